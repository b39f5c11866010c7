"""Multi-worker training (`keras-wht train --distribute multi-worker`): two worker processes
on this machine, each with its own TF_CONFIG, running the same command."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_wht import cli, distribution, training
from keras_wht._keras import keras

TIMEOUT = 600  # seconds for both workers together: a worker waiting for a lost peer never gives up by itself
TRAIN = ["train", "--model", "resnet20", "--wht", "last-third", "--epochs", "2", "--input-size", "8",
         "--batch-size", "32", "--distribute", "multi-worker"]
OUTPUTS = {"checkpoint.keras", "history.csv", "history.json", "metrics.json", "model.keras"}


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"localhost:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def _run_workers(root, name, outs, extra=()):
    """Runs `keras-wht TRAIN extra --out outs[i]` as worker i of a cluster of len(outs) on
    this machine, each with TMPDIR root/name-tmp (where a non-chief's temporary outputs go),
    to the end; [(exit code, stdout, stderr) per worker]."""
    scratch = root / f"{name}-tmp"
    scratch.mkdir()
    ports = _free_ports(len(outs))
    workers, logs = [], []
    try:
        for index, out in enumerate(outs):
            env = {**os.environ, "TF_CONFIG": _tf_config(ports, index), "CUDA_VISIBLE_DEVICES": "",
                   "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(scratch)}
            stdout, stderr = open(root / f"{name}{index}.out", "w"), open(root / f"{name}{index}.err", "w")
            logs += [stdout, stderr]
            workers.append(subprocess.Popen([sys.executable, "-m", "keras_wht.cli", *TRAIN, *extra, "--out", str(out)],
                                            env=env, cwd=root, stdout=stdout, stderr=stderr))
        deadline = time.monotonic() + TIMEOUT
        for worker in workers:
            worker.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for worker in workers:
            if worker.poll() is None:  # timed out (or interrupted): SIGKILL, as a waiting worker ignores SIGTERM
                worker.kill()
                worker.wait()
        for log in logs:
            log.close()
    return [(worker.returncode, (root / f"{name}{i}.out").read_text(), (root / f"{name}{i}.err").read_text())
            for i, worker in enumerate(workers)]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """Two workers, each with its own --out; (folder, [(exit code, stdout, stderr) per worker])."""
    root = tmp_path_factory.mktemp("multi_worker")
    return root, _run_workers(root, "worker", [root / "out0", root / "out1"])


def _test_accuracy(stdout):
    found = re.findall(r"^test accuracy (\d\.\d{4}) \(71,362 parameters, 2 replicas\); (.*)$", stdout, re.M)
    assert len(found) == 1, stdout[-2000:]
    return found[0]


@pytest.mark.slow
def test_two_workers_train_one_model_and_only_the_chief_writes(two_workers):
    root, results = two_workers
    for code, stdout, stderr in results:
        assert code == 0, stderr[-3000:]
    (chief_accuracy, chief_says), (other_accuracy, other_says) = (_test_accuracy(out) for _, out, _ in results)
    assert chief_says == f"model, checkpoint, history and metrics in {root / 'out0'} (written by this worker, " \
                         "worker 0, the chief of 2 workers)"
    assert other_says == "model, checkpoint, history and metrics written by the chief, into its --out (this worker, " \
                         "worker 1 of 2, wrote nothing)"
    assert chief_accuracy == other_accuracy  # one model: the same weights and batch-norm statistics on both

    chief = root / "out0"
    assert {p.name for p in chief.iterdir()} == OUTPUTS
    assert not (root / "out1").exists()  # the other worker wrote nothing into its --out ...
    assert list((root / "worker-tmp").iterdir()) == []  # ... and removed its temporary outputs
    metrics = json.loads((chief / "metrics.json").read_text())
    assert (metrics["distribute"], metrics["workers"], metrics["replicas"]) == ("multi-worker", 2, 2)
    assert f"{metrics['test_accuracy']:.4f}" == chief_accuracy
    history = json.loads((chief / "history.json").read_text())
    assert [row["epoch"] for row in history] == [0, 1]
    assert history[-1]["loss"] < history[0]["loss"]
    assert metrics["test_accuracy"] > 0.3  # chance is 0.1


@pytest.mark.slow
def test_the_chiefs_model_is_the_one_both_workers_evaluated(two_workers):
    """What the workers reported together (each evaluating its half of every batch with its
    own copy of the model) is what the chief's model.keras gives on one machine: the
    evaluation covered the test split once, and both copies were the chief's model."""
    root, results = two_workers
    assert [code for code, _, _ in results] == [0, 0]
    chief = root / "out0"
    metrics = json.loads((chief / "metrics.json").read_text())
    model = keras.saving.load_model(str(chief / "model.keras"))
    assert model.count_params() == metrics["parameters"]
    # the same test split as the workers', through `prepare` (which writes nothing)
    run = training.prepare(model="resnet20", wht="last-third", epochs=2, batch_size=32, input_size=8,
                           out=str(chief), resume=True)
    assert run.done == 2
    images = sum(int(batch[0].shape[0]) for batch in run.test_data)
    test_loss, test_accuracy = model.evaluate(run.test_data, verbose=0)
    assert abs(test_accuracy - metrics["test_accuracy"]) <= 1 / images  # a near tie may break the other way
    np.testing.assert_allclose(test_loss, metrics["test_loss"], rtol=1e-4)


@pytest.mark.slow
def test_resume_on_a_shared_folder(two_workers):
    """Both workers resume from one folder (as on a shared file system): one more epoch."""
    root, results = two_workers
    assert [code for code, _, _ in results] == [0, 0]
    shared = root / "shared"
    shutil.copytree(root / "out0", shared)
    before = json.loads((shared / "history.json").read_text())
    results = _run_workers(root, "resume", [shared, shared], ["--epochs", "3", "--resume"])
    for code, stdout, stderr in results:
        assert code == 0, stderr[-3000:]
    assert "Epoch 3/3" in results[1][1] and "Epoch 2/3" not in results[1][1]  # the other worker resumed too
    assert {p.name for p in shared.iterdir()} == OUTPUTS
    assert list((root / "resume-tmp").iterdir()) == []
    history = json.loads((shared / "history.json").read_text())
    assert [row["epoch"] for row in history] == [0, 1, 2] and history[:2] == before
    assert json.loads((shared / "metrics.json").read_text())["epochs"] == 3
    assert _test_accuracy(results[0][1])[0] == _test_accuracy(results[1][1])[0]


def test_batch_norm_statistics_are_averaged_over_the_replicas():
    """Keras 3 lets each replica keep its own batch-norm statistics; after training `train`
    sets every copy to their mean (two logical CPUs, see conftest.py)."""
    import tensorflow as tf

    # Not the default (collective) all-reduce: a later strategy's collectives in this process
    # would then fail ("Shape mismatch in the collective instance 100"), a TensorFlow problem.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.BatchNormalization()])
        model.compile("sgd", "mse")
    x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32) * np.arange(64, dtype=np.float32)[:, None]
    model.fit(x, np.zeros((64, 8), np.float32), batch_size=16, epochs=1, verbose=0)
    norm = model.layers[1]

    def copies(variable):
        return [v.numpy() for v in strategy.experimental_local_results(variable.value)]

    means, variances = copies(norm.moving_mean), copies(norm.moving_variance)
    assert not np.allclose(*means) and not np.allclose(*variances)  # the replicas saw different halves
    distribution.average_batch_norm_statistics(model, strategy)
    for variable, before in ((norm.moving_mean, means), (norm.moving_variance, variances)):
        for copy in copies(variable):
            np.testing.assert_allclose(copy, np.mean(before, axis=0), rtol=1e-6)


def _fails(capsys, argv, message):
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == f"keras-wht {argv[0]}: {message}"


@pytest.mark.parametrize("value", ["horovod", "Mirrored", "multi_worker", ""])
def test_an_unknown_strategy_is_named(value, capsys, tmp_path):
    _fails(capsys, ["train", "--distribute", value, "--out", str(tmp_path / "run")],
           f"`distribute` must be False, True, 'mirrored' or 'multi-worker', got {value!r}.")
    assert list(tmp_path.iterdir()) == []
    for bad in (2, "tpu", ["mirrored"]):
        with pytest.raises(ValueError, match=re.escape(f"`distribute` must be False, True, 'mirrored' or "
                                                       f"'multi-worker', got {bad!r}.")):
            training.check(distribute=bad)
    for good, name in ((False, None), (None, None), (True, "mirrored"), ("mirrored", "mirrored"),
                       ("multi-worker", "multi-worker")):
        assert distribution.strategy_name(good) == name


def test_bare_distribute_is_mirrored_and_the_default_is_none():
    parser = cli.build_parser()
    assert parser.parse_args(["train", "--distribute"]).distribute == "mirrored"
    assert parser.parse_args(["train", "--distribute", "--out", "x"]).distribute == "mirrored"
    assert parser.parse_args(["train", "--distribute", "multi-worker"]).distribute == "multi-worker"
    assert parser.parse_args(["train"]).distribute is False


def test_multi_worker_without_tf_config_fails_before_anything(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    _fails(capsys, ["train", "--distribute", "multi-worker", "--out", str(tmp_path / "run")],
           "`distribute` 'multi-worker' needs the TF_CONFIG environment variable, which is not set: JSON naming "
           "every worker of the cluster and this worker's task, such as {\"cluster\": {\"worker\": "
           "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}.")
    assert list(tmp_path.iterdir()) == []


WORKERS = {"worker": ["localhost:1", "localhost:2"]}


@pytest.mark.parametrize(
    "config, message",
    [
        ("{cluster", "TF_CONFIG is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
                     "(char 1)): '{cluster'"),
        ("[1, 2]", "TF_CONFIG must be a JSON object with \"cluster\" and \"task\", got '[1, 2]'"),
        ({"task": {"type": "worker", "index": 0}},
         "TF_CONFIG has no \"cluster\" (the address of every worker, such as {\"worker\": [\"host1:12345\", "
         "\"host2:12345\"]}): '{\"task\": {\"type\": \"worker\", \"index\": 0}}'"),
        ({"cluster": {"ps": ["localhost:1"], **WORKERS}, "task": {"type": "worker", "index": 0}},
         "TF_CONFIG's \"cluster\" must map \"worker\" (and optionally \"chief\") to lists of \"host:port\" "
         "addresses, got {\"ps\": [\"localhost:1\"], \"worker\": [\"localhost:1\", \"localhost:2\"]}"),
        ({"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}},
         "TF_CONFIG's \"cluster\" must list \"host:port\" addresses for 'worker', got \"localhost:1\""),
        ({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}},
         "TF_CONFIG's \"cluster\" must list \"host:port\" addresses for 'worker', got [\"localhost\"]"),
        ({"cluster": {"chief": ["a:1", "b:1"], **WORKERS}, "task": {"type": "worker", "index": 0}},
         "TF_CONFIG's \"cluster\" may have one \"chief\", got [\"a:1\", \"b:1\"]"),
        ({"cluster": WORKERS},
         "TF_CONFIG has no \"task\" with a \"type\" and an \"index\" (this worker's place in the cluster, such as "
         "{\"type\": \"worker\", \"index\": 0}): '{\"cluster\": {\"worker\": [\"localhost:1\", \"localhost:2\"]}}'"),
        ({"cluster": WORKERS, "task": {"type": "chief", "index": 0}},
         "TF_CONFIG's task type 'chief' is not in its cluster, which has 'worker'"),
        ({"cluster": WORKERS, "task": {"type": "worker", "index": 2}},
         "TF_CONFIG's task index 2 is not an index into its cluster's 2 'worker' address(es)"),
        ({"cluster": WORKERS, "task": {"type": "worker", "index": "0"}},
         "TF_CONFIG's task index '0' is not an index into its cluster's 2 'worker' address(es)"),
    ],
)
def test_a_bad_tf_config_is_named_before_anything(config, message, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TF_CONFIG", config if isinstance(config, str) else json.dumps(config))
    _fails(capsys, ["train", "--distribute", "multi-worker", "--out", str(tmp_path / "run")], message)
    assert list(tmp_path.iterdir()) == []


def test_the_chief_is_the_chief_task_or_else_worker_0():
    def place(cluster, kind, index):
        return distribution.read_tf_config(json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}}))

    assert place(WORKERS, "worker", 0) == {"workers": 2, "task": ("worker", 0), "chief": True}
    assert place(WORKERS, "worker", 1)["chief"] is False
    with_chief = {"chief": ["localhost:3"], **WORKERS}
    assert place(with_chief, "chief", 0) == {"workers": 3, "task": ("chief", 0), "chief": True}
    assert place(with_chief, "worker", 0)["chief"] is False
