"""`keras-wht bench` on tiny shapes: rows, the JSON schema, Markdown, PNG plots, errors.

Only what the numbers must satisfy whatever the machine's speed is asserted here (counts,
sizes, ratios of the reported latencies); timing claims live in the benchmarks."""

import json

import jsonschema
import matplotlib.image
import numpy as np
import pytest

from keras_wht import cli
from keras_wht._keras import keras
from keras_wht.bench import compare, layers, paths, report, timing
from keras_wht.layers import WHT2D
from keras_wht.tflite.runtime import custom_ops

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY_PATHS = ("keras", "function", "builtin", "custom", "int8", "int8-custom")


def assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert np.ptp(image[..., :3]) > 0  # not a blank canvas


@pytest.fixture(scope="module")
def layers_run(tmp_path_factory):
    """`keras-wht bench layers --size tiny` over every path, written into a folder."""
    if not custom_ops.available():
        pytest.skip("keras-wht's kernels are not built")
    out = tmp_path_factory.mktemp("bench")
    status = cli.main(["bench", "layers", "--size", "tiny", "--paths", ",".join(TINY_PATHS), "--threads", "1,2",
                       "--repeats", "2", "--out", str(out), "--markdown", str(out / "table.md")])
    assert status == 0
    return out, json.loads((out / "bench-layers.json").read_text())


def test_layers_report_follows_the_schema(layers_run):
    _, doc = layers_run
    jsonschema.validate(doc, report.SCHEMA)
    assert doc["kind"] == "layers" and doc["settings"]["size"] == "tiny"
    assert doc["environment"]["kernels"] == custom_ops.isa()
    assert doc["environment"]["thread_pool"] == custom_ops.thread_pool()


def test_layers_report_has_a_row_per_case_model_path_and_thread_count(layers_run):
    _, doc = layers_run
    expected = set()
    for case, _, factories in layers.cases("tiny"):
        for model in factories:
            expected |= {(case, model, path, None) for path in ("keras", "function")}
            expected |= {(case, model, path, t) for path in ("builtin", "custom", "int8", "int8-custom")
                         for t in (1, 2)}
    got = [(r["case"], r["model"], r["path"], None if r["path"] in ("keras", "function") else r["threads"])
           for r in doc["rows"]]
    assert len(got) == len(set(got)) and set(got) == expected


def test_layers_speedups_are_the_baseline_latency_over_each_rows(layers_run):
    _, doc = layers_run
    for row in doc["rows"]:
        base = next(r for r in doc["rows"] if r["baseline"] and
                    (r["case"], r["path"], r["threads"]) == (row["case"], row["path"], row["threads"]))
        assert row["speedup"] == pytest.approx(base["latency_ms"] / row["latency_ms"], rel=1e-9)
        assert row["baseline"] == (row["model"] in ("conv3x3", "conv1x1"))


def test_layers_report_sizes_parameters_and_memory(layers_run):
    _, doc = layers_run
    rows = {(r["case"], r["model"], r["path"], r["threads"]): r for r in doc["rows"]}
    conv = rows["2-D 4x4x16", "conv3x3", "builtin", 1]
    assert conv["parameters"] == 9 * 16 * 16 + 16
    assert rows["2-D 4x4x16", "WHT2D", "builtin", 1]["parameters"] == 2 * 4 * 4
    assert rows["2-D 4x4x16", "WHT2D 2x2 tiles", "builtin", 1]["parameters"] == 2 * 2 * 2
    assert rows["2-D 4x4x16", "conv3x3", "int8", 1]["bytes"] < conv["bytes"] / 2  # int8 weights
    for case, model in (("2-D 4x4x16", "WHT2D"), ("1-D 4x4x16", "WHT1D")):
        # one native op and two parameter tensors, against the builtin lowering's matrices
        assert rows[case, model, "custom", 1]["bytes"] < rows[case, model, "builtin", 1]["bytes"]
    for (_, _, path, threads), row in rows.items():
        measured = path in paths.TFLITE_PATHS and threads == 1
        assert (row["peak_mb"] is not None) == measured and (row["bytes"] is not None) == (path not in ("keras", "function"))
        if measured:
            assert 10 < row["peak_mb"] < 4000


def test_layers_markdown_and_plots_are_written(layers_run):
    out, doc = layers_run
    text = (out / "table.md").read_text()
    assert text == (out / "bench-layers.md").read_text() == report.markdown(doc)
    table_lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table_lines) == 1 + len(doc["rows"])  # header + one line per row
    assert "| 2-D 4x4x16 | conv3x3 | builtin | 1 |" in text
    for name in ("bench-layers-latency.png", "bench-layers-speedup.png"):
        assert_png(out / name)


def test_models_bench_on_json_stdout(capsys):
    status = cli.main(["bench", "models", "--model", "resnet20", "--input-size", "32", "--paths", "builtin",
                       "--repeats", "2", "--no-memory", "--json", "-"])
    assert status == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, report.SCHEMA)
    rows = {r["model"]: r for r in doc["rows"]}
    assert set(rows) == {"plain", "last-third"} and rows["plain"]["baseline"]
    from keras_wht import models

    for name, preset in (("plain", None), ("last-third", "last-third")):
        assert rows[name]["parameters"] == models.ResNet20((32, 32, 3), classes=10, wht=preset).count_params()
    assert rows["last-third"]["bytes"] < rows["plain"]["bytes"]
    assert all(r["peak_mb"] is None and r["case"] == "resnet20 32x32" for r in rows.values())


@pytest.mark.parametrize("argv, message", [
    (["layers", "--threads", "0"], "`--threads` must list integers of at least 1, got '0'"),
    (["layers", "--threads", "1,x"], "`--threads` must be a comma-separated list of integers, got '1,x'"),
    (["layers", "--paths", "builtin,gpu"], "`paths` must be a non-empty list of keras, function, builtin, custom, "
                                           "int8, int8-custom; got builtin, gpu"),
    (["layers", "--repeats", "0"], "`--repeats` must be at least 1, got 0"),
    (["layers", "--batch", "0"], "`--batch` must be at least 1, got 0"),
    (["models", "--model", "vgg16", "--paths", "builtin"], "Unknown model 'vgg16'; the models are: mobilenet_v2"),
    (["models", "--model", "resnet20", "--wht", "nope", "--paths", "builtin"],
     "`wht` preset 'nope' is not one of resnet20's: last-third, last-third-second."),
    (["models", "--model", "resnet20", "--input-size", "16", "--paths", "builtin"],
     "`input_sizes` must be integers of at least 32, got 16."),
])
def test_bench_errors_name_the_argument_and_value(argv, message, capsys):
    assert cli.main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-wht bench: ") and message in err


def test_layers_at_the_papers_batch_of_ten():
    rows = layers.run("tiny", batch=10, paths=("keras",), repeats=1, memory=False)
    assert {r["case"] for r in rows} == {"2-D 4x4x16, batch 10", "1-D 4x4x16, batch 10"}
    assert all(r["shape"] == [10, 4, 4, 16] for r in rows)
    assert [shape for _, shape, _ in layers.cases("paper", 10)] == [(10, 8, 8, 1024), (10, 32, 32, 1024)]
    assert layers.cases("paper") == layers.PAPER
    with pytest.raises(ValueError, match="`batch` must be an integer of at least 1, got 2.5."):
        layers.cases("paper", 2.5)


def test_custom_path_without_kernels_says_what_to_install(monkeypatch):
    monkeypatch.setattr(custom_ops, "available", lambda: False)
    with pytest.raises(custom_ops.CustomOpsUnavailable, match="install g\\+\\+ and libflatbuffers-dev"):
        paths.check(["builtin", "custom"])
    with pytest.raises(custom_ops.CustomOpsUnavailable, match="the 'int8-custom' path\\(s\\) need"):
        paths.check(["int8", "int8-custom"])
    assert paths.default_paths() == ("keras", "function", "builtin", "int8")


def test_interleaved_calls_each_model_in_turn_and_counts_repeats():
    calls = []
    runs = [lambda: calls.append("a"), lambda: calls.append("b")]
    medians = timing.interleaved(runs, repeats=10, schedule="warm", warmup=1, round_size=5)
    assert len(medians) == 2 and all(m >= 0 for m in medians)
    # warm-up, then 2 rounds of 6 calls (the first not counted) per model, in turn
    assert calls == ["a", "b"] + (["a"] * 6 + ["b"] * 6) * 2
    calls.clear()
    timing.interleaved(runs, repeats=3, schedule="cold", warmup=0)
    assert calls == ["a", "b"] * 3
    with pytest.raises(ValueError, match="`schedule` must be one of \\('warm', 'cold'\\), got 'hot'"):
        timing.interleaved(runs, repeats=3, schedule="hot")
    with pytest.raises(ValueError, match="`repeats` must be at least 1, got 0"):
        timing.interleaved(runs, repeats=0)


def test_peak_memory_grows_with_the_model_and_reports_failures():
    from keras_wht import tflite

    def dense(units):
        return tflite.convert(keras.Sequential([keras.Input((1024,)), keras.layers.Dense(units)]))

    small, large = timing.peak_memory_mb(dense(8)), timing.peak_memory_mb(dense(16384))  # 64 MB of weights
    assert 10 < small and large - small > 50
    with pytest.raises(RuntimeError, match="the peak-memory process failed \\(exit 1\\)"):
        timing.peak_memory_mb(b"not a flatbuffer")


def test_compare_reuses_given_conversions_and_keeps_the_baseline_first():
    from keras_wht import tflite

    shape = (1, 4, 4, 8)
    models = {"conv3x3": keras.Sequential([keras.Input(shape[1:], batch_size=1), keras.layers.Conv2D(8, 3, padding="same")]),
              "WHT2D": keras.Sequential([keras.Input(shape[1:], batch_size=1), WHT2D()])}
    given = {("conv3x3", "builtin"): tflite.convert(models["conv3x3"])}
    converted = dict(given)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    rows = compare.compare("c", models, x, paths=("builtin",), repeats=2, memory=False, converted=converted)
    assert [r["model"] for r in rows] == ["conv3x3", "WHT2D"] and rows[0]["speedup"] == 1.0
    assert converted[("conv3x3", "builtin")] is given[("conv3x3", "builtin")]  # not converted again
    assert rows[0]["bytes"] == len(given[("conv3x3", "builtin")])
    assert rows[1]["bytes"] == len(converted[("WHT2D", "builtin")])


def test_plot_rejects_an_unknown_metric(tmp_path):
    doc = {"kind": "layers", "rows": []}
    with pytest.raises(ValueError, match="`metric` must be 'latency_ms' or 'speedup', got 'bytes'"):
        report.plot(doc, "bytes", tmp_path / "x.png")


def test_plots_without_matplotlib_fail_before_the_benchmark(monkeypatch, tmp_path, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    assert cli.main(["bench", "layers", "--size", "tiny", "--out", str(tmp_path)]) == 2
    assert cli.main(["demo", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("the PNG plots need matplotlib: pip install matplotlib (or 'keras-wht[bench]')") == 2
    assert list(tmp_path.iterdir()) == []  # nothing measured, nothing written


def test_op_profile_runs_each_operator_on_its_values_in_the_network():
    from keras_wht import tflite
    from keras_wht.bench import profile

    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = WHT2D()(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    content = tflite.convert(model, custom_ops=custom_ops.available())
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 4)).astype(np.float32)
    pieces = profile.split(content)
    assert [p[0] for p in pieces] == tflite.operators(content)
    # The first operator alone, fed the model's input, computes what it computes in the model.
    values = profile._values(content, x, None)
    name, tensor, piece, feeds = pieces[0]
    it = tflite.Interpreter(model_content=piece)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    whole = tflite.Interpreter(model_content=content)
    index = next(d["index"] for d in whole.get_tensor_details() if d["name"] == tensor)
    assert name == "CONV_2D" and list(feeds.values()) == [whole.get_input_details()[0]["index"]]
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), values[index], rtol=1e-6)
    result = profile.profile(content, x, repeats=2)
    assert [o["op"] for o in result["ops"]] == tflite.operators(content)
    assert all(o["ms"] > 0 for o in result["ops"]) and result["total_ms"] > 0
    assert profile.by_operator(result)[0][2] == max(ms for _, _, ms in profile.by_operator(result))
