import json
import subprocess
import sys

import numpy as np
import pytest

from keras_wht import accuracy, cli, datasets, training
from keras_wht import models as keras_wht_models
from keras_wht._keras import keras
from keras_wht.datasets.pipeline import pipeline


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """ResNet20 with WHT layers in its last third, 6 epochs on 16x16 digits."""
    out = tmp_path_factory.mktemp("train")
    metrics = training.train(model="resnet20", wht="last-third", epochs=6, batch_size=32, learning_rate=3e-3,
                             input_size=16, out=str(out), verbose=0)
    return out, metrics


@pytest.mark.slow
def test_short_training_on_digits_learns(trained):
    out, metrics = trained
    assert metrics["test_accuracy"] > 0.3  # chance is 0.1
    assert json.loads((out / "metrics.json").read_text()) == metrics
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(6))
    assert history[-1]["loss"] < history[0]["loss"]
    model = keras.saving.load_model(str(out / "model.keras"))
    assert model.count_params() == metrics["parameters"]


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(trained, tmp_path):
    out, _ = trained
    for name in ("checkpoint.keras", "history.csv"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    run = training.prepare(model="resnet20", epochs=7, batch_size=32, input_size=16, out=str(tmp_path), resume=True)
    norms = [layer for layer in run.net.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and {layer.momentum for layer in norms} == {training.BATCH_NORM_MOMENTUM}  # kept from the checkpoint
    # The cosine decay now spans 7 epochs, not the 6 the checkpoint's run had (where the
    # learning rate was 0 from the seventh on and the resumed epoch changed no weight).
    optimizer = run.net.optimizer
    steps = -(-len(datasets.splits("digits", seed=0, input_size=16).train[0]) // 32)
    assert int(optimizer.iterations.numpy()) == 6 * steps and float(optimizer.learning_rate) > 0
    before = [w.numpy().copy() for w in run.net.trainable_weights]
    metrics = run.fit(verbose=0)
    assert int(optimizer.iterations.numpy()) == 7 * steps
    assert all(not np.array_equal(w.numpy(), b) for w, b in zip(run.net.trainable_weights, before))
    history = json.loads((tmp_path / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(7))  # one more epoch, appended
    assert metrics["test_accuracy"] > 0.3


@pytest.mark.slow
def test_validation_during_training_tells_the_truth(tmp_path):
    """MobileNetV2 (batch-norm momentum 0.999 as built, as keras.applications') on digits:
    the validation accuracy Keras reports after each epoch is that of the model as used,
    not chance. With the builder's momentum it stayed at 0.07-0.12 for all 30 epochs."""
    built = [layer.momentum for layer in keras_wht_models.build("mobilenet_v2", input_size=32, classes=10).layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert set(built) == {0.999}
    metrics = training.train(model="mobilenet_v2", epochs=4, batch_size=16, out=str(tmp_path), verbose=0)
    history = json.loads((tmp_path / "history.json").read_text())
    last = history[-1]["val_accuracy"]
    assert last > 0.5, history
    assert abs(last - metrics["test_accuracy_before_recalibration"]) < 0.1, (history, metrics)
    assert abs(last - metrics["test_accuracy"]) < 0.1, (history, metrics)


@pytest.mark.slow
def test_distributed_training_through_the_cli(tmp_path):
    # In a process of its own: two MirroredStrategy instances in one process (this one and
    # tests/layers/test_training.py's, when both land on one test worker) break each
    # other's collectives ("Shape mismatch in the collective instance").
    argv = ["train", "--model", "resnet20", "--wht", '{"blocks": [-1], "layers": ["conv2"]}',
            "--epochs", "1", "--input-size", "8", "--distribute", "--augment", "--out", str(tmp_path)]
    script = ("import sys, tensorflow as tf\n"
              "cpu = tf.config.list_physical_devices('CPU')[0]\n"  # two replicas, as tests/conftest.py sets up
              "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
              "from keras_wht import cli\n"
              "sys.exit(cli.main(sys.argv[1:]))\n")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test accuracy" in done.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["wht"] == {"blocks": [-1], "layers": ["conv2"]}
    assert (metrics["distribute"], metrics["workers"]) == ("mirrored", 1)  # a bare --distribute, as before
    assert metrics["replicas"] == 2


def test_pipeline_resizes_tiles_and_augments():
    (x, y), _ = datasets.load_digits()
    plain = next(iter(pipeline(x[:8], y[:8], input_size=16, batch_size=8)))[0].numpy()
    assert plain.shape == (8, 16, 16, 3)
    np.testing.assert_array_equal(plain[..., 0], plain[..., 2])
    augmented = next(iter(pipeline(x[:8], y[:8], input_size=16, batch_size=8, augment=True)))[0].numpy()
    assert augmented.shape == plain.shape and not np.array_equal(augmented, plain)


def test_digits_split_is_fixed_and_disjoint():
    (a, ya), (b, yb) = datasets.load_digits()
    (a2, _), _ = datasets.load_digits()
    assert len(a) + len(b) == 1797 and len(b) == 359
    np.testing.assert_array_equal(a, a2)
    assert set(np.unique(ya)) == set(range(10))


def test_cifar_offline_is_a_clear_error(monkeypatch, capsys, tmp_path):
    def offline():
        raise OSError("no route to host")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "cifar10", "--epochs", "1", "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "could not load cifar10 through keras.datasets" in err and "Use --dataset digits or fashion_mnist" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "vgg"], "Unknown model 'vgg'; the models are: mobilenet_v2"),
        (["--dataset", "mnist"], "Unknown `dataset` 'mnist'; the data sets are: digits, fashion_mnist, cifar10, "
                                 "cifar100, or a folder"),
        (["--wht", "{blocks"], "`--wht` looks like JSON but does not parse"),
        (["--epochs", "0"], "`epochs` must be a positive integer, got 0"),
        (["--schedule", "step"], "`schedule` must be one of 'constant', 'cosine', got 'step'"),
        (["--lr", "-1"], "`learning_rate` must be positive, got -1.0"),
        (["--resume", "--out", "{tmp}"], "--resume: no checkpoint to resume from at {tmp}/checkpoint.keras"),
    ],
)
def test_train_errors(argv, message, capsys, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    message = message.replace("{tmp}", str(tmp_path))
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    assert cli.main(["train", *argv]) == 2
    assert message in capsys.readouterr().err


def test_models_command_json(capsys):
    assert cli.main(["models", "--model", "resnet20", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {"model": "resnet20", "wht": "none", "parameters": 274_042, "of_plain": 1.0}
    assert {r["wht"] for r in rows} == {"none", "last-third", "last-third-second"}


def test_recalibrated_statistics_are_the_average_batch_statistics(rng):
    dense = keras.layers.Dense(3)
    norm = keras.layers.BatchNormalization(momentum=0.99)
    model = keras.Sequential([keras.Input((4,)), dense, norm])
    batches = [rng.standard_normal((8, 4)).astype(np.float32) * (k + 1) for k in range(5)]
    training.recalibrate_batch_norm(model, [(b, None) for b in batches])
    kernel, bias = dense.get_weights()
    features = [b @ kernel + bias for b in batches]
    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean([f.mean(0) for f in features], 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(norm.moving_variance.numpy(), np.mean([f.var(0) for f in features], 0), rtol=1e-4)
    assert norm.momentum == 0.99  # restored


@pytest.mark.slow
def test_train_and_accuracy_on_a_folder_of_images(tmp_path, monkeypatch, capsys):
    """`keras-wht train --dataset FOLDER --fit pad --train-size N`, then `keras-wht accuracy`
    on the run: it rebuilds the same test split (same padding, subset and seed) from
    metrics.json, so its Keras row is the run's test accuracy."""
    from tests.datasets.test_files import make_folder

    rng = np.random.default_rng(0)
    make_folder(tmp_path / "images", {name: [rng.integers(0, 256, (6, 6, 1 + 2 * (k % 2)), dtype=np.uint8)
                                             for k in range(8)] for name in ("cat", "dog")})
    monkeypatch.chdir(tmp_path)  # a relative --dataset, kept absolute in metrics.json
    argv = ["train", "--dataset", "images", "--fit", "pad", "--train-size", "10", "--model", "resnet20",
            "--input-size", "8", "--epochs", "1", "--batch-size", "8", "--seed", "3", "--out", "run"]
    assert cli.main(argv) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["dataset"], metrics["fit"], metrics["train_size"], metrics["input_size"], metrics["seed"]) == (
        str(tmp_path / "images"), "pad", 10, 8, 3)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 1
    capsys.readouterr()
    assert cli.main(["accuracy", "run", "--qat-epochs", "0", "--calibration", "4"]) == 0
    rows = json.loads((tmp_path / "run" / "accuracy.json").read_text())
    assert rows[0]["name"] == "Keras" and rows[0]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    model = keras.saving.load_model(str(tmp_path / "run" / "model.keras"))
    test, labels, calibration = accuracy.data("run", model, calibration=4)
    assert test.shape == (3, 8, 8, 3) and calibration.shape == (4, 8, 8, 3)  # 20% of 16 images, padded 6 -> 8
    assert np.all(test[:, 0] == 0) and np.all(test[:, 7] == 0)  # the padding's rows
    (_, _), (x_test, y_test), _ = datasets.load(str(tmp_path / "images"), seed=3, fit="pad")
    np.testing.assert_array_equal(test[:, 1:7, 1:7], x_test)
    np.testing.assert_array_equal(labels, y_test)


@pytest.mark.slow
def test_train_from_a_plain_run_with_init_from_and_teacher(tmp_path, capsys):
    """A plain ResNet20, then its WHT variant started from its weights and distilled from it:
    model.keras is the student alone (the builder's network, loadable as any run's), the
    checkpoint the distiller that --resume continues."""
    tiny = ["train", "--model", "resnet20", "--input-size", "8", "--train-size", "200", "--batch-size", "50"]
    assert cli.main([*tiny, "--epochs", "1", "--out", str(tmp_path / "plain")]) == 0
    argv = [*tiny, "--wht", "last-third", "--init-from", str(tmp_path / "plain"), "--teacher", str(tmp_path / "plain"),
            "--distill-alpha", "0.5", "--out", str(tmp_path / "student")]
    assert cli.main([*argv, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert f"--init-from {tmp_path / 'plain'}: copied 37 of 43 layers; 6 replaced by WHT layers kept their " \
           "initialisation" in out
    metrics = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert metrics["init_from"] == metrics["teacher"] == str(tmp_path / "plain")
    assert (metrics["distill_temperature"], metrics["distill_alpha"]) == (4.0, 0.5)
    assert metrics["init_from_copied"].startswith("copied 37 of 43 layers")
    student = keras.saving.load_model(str(tmp_path / "student" / "model.keras"))
    built = keras_wht_models.build("resnet20", wht="last-third", input_size=8)
    assert [layer.name for layer in student.layers[1:]] == [layer.name for layer in built.layers[1:]]
    assert student.count_params() == metrics["parameters"] == built.count_params()
    assert student.loss == "sparse_categorical_crossentropy"
    assert cli.main([*argv, "--epochs", "2", "--resume"]) == 0  # continues the distillation
    assert [row["epoch"] for row in json.loads((tmp_path / "student" / "history.json").read_text())] == [0, 1]
    assert json.loads((tmp_path / "student" / "metrics.json").read_text())["teacher"] == str(tmp_path / "plain")
