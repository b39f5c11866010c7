import json

import numpy as np
import pytest

from keras_wht import cli, distillation
from keras_wht._keras import keras


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _network(seed, classes=5, activation="softmax"):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(classes, activation=activation)])


@pytest.mark.parametrize("temperature, alpha", [(4.0, 0.9), (2.0, 0.5), (1.0, 0.0)])
def test_the_loss_is_the_formula(rng, temperature, alpha):
    student, teacher = _network(1), _network(2)
    x = rng.standard_normal((8, 6)).astype(np.float32) * 3
    y = rng.integers(0, 5, 8)
    distiller = distillation.Distiller(student, teacher, temperature=temperature, alpha=alpha)
    p = np.asarray(student(x))
    loss = float(distiller.compute_loss(x, y, p))

    def logits(net):  # what the softmax was taken of
        kernel, bias = net.layers[-1].get_weights()
        return x @ kernel + bias

    hard = -np.mean(np.log(_softmax(logits(student))[np.arange(8), y]))
    q_t, q_s = _softmax(logits(teacher) / temperature), _softmax(logits(student) / temperature)
    kl = np.mean(np.sum(q_t * np.log(q_t / q_s), axis=-1))
    assert kl > 0.01  # the two networks disagree: the term is tested
    np.testing.assert_allclose(loss, (1 - alpha) * hard + alpha * temperature**2 * kl, rtol=1e-5)


def test_training_moves_the_student_only_and_saves_both(rng, tmp_path):
    student, teacher = _network(1), _network(2)
    distiller = distillation.Distiller(student, teacher, teacher_source="somewhere")
    distiller.compile(optimizer=keras.optimizers.Adam(0.05), metrics=["accuracy"])
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = np.argmax(np.asarray(teacher(x)), axis=1)
    before_t, before_s = teacher.get_weights(), student.get_weights()
    distiller.fit(x, y, epochs=3, batch_size=8, verbose=0)
    for a, b in zip(teacher.get_weights(), before_t):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(student.get_weights()[0], before_s[0])
    distiller.save(str(tmp_path / "d.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "d.keras"))  # registered: no custom_objects
    assert isinstance(loaded, distillation.Distiller) and not loaded.teacher.trainable
    assert (loaded.temperature, loaded.alpha, loaded.teacher_source) == (4.0, 0.9, "somewhere")
    assert int(loaded.optimizer.iterations) == 12
    np.testing.assert_allclose(np.asarray(loaded.student(x)), np.asarray(student(x)), atol=1e-6)


def test_bad_settings_and_teachers(tmp_path):
    for kwargs, message in [(dict(temperature=0, alpha=0.5), "`distill_temperature` must be a positive number, got 0"),
                            (dict(temperature=4, alpha=1.5), "`distill_alpha` must be a number from 0 to 1, got 1.5")]:
        with pytest.raises(ValueError, match=message):
            distillation.check(**kwargs)
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
                      keras.layers.Dense(10, activation="softmax")]).save(str(tmp_path / "t.keras"))
    teacher = str(tmp_path / "t.keras")
    for kwargs, message in [
        (dict(input_shape=(16, 16, 3), classes=10), f"`--teacher` '{teacher}' takes inputs of shape (8, 8, 3), the "
                                                    "student (16, 16, 3) (train it at the same --input-size)"),
        (dict(input_shape=(8, 8, 3), classes=3), f"`--teacher` '{teacher}' gives outputs of shape (10,), the "
                                                 "student's data set has 3 classes"),
    ]:
        with pytest.raises(ValueError) as info:
            distillation.load_teacher(teacher, **kwargs)
        assert str(info.value) == message
    logits = _network(3, activation=None)
    with pytest.raises(ValueError, match="`--teacher` 'x.keras' does not end in softmax"):
        distillation.check_probabilities(logits, np.ones((4, 6), np.float32), path="x.keras")
    distillation.check_probabilities(_network(3), np.ones((4, 6), np.float32))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes((tmp_path / "t.keras").read_bytes())
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"dataset": "digits"}))
    with pytest.raises(ValueError) as info:
        distillation.teacher_file(str(tmp_path / "run"), dataset="fashion_mnist")
    assert str(info.value) == f"`--teacher` '{tmp_path}/run' learnt the data set 'digits'; this run trains on " \
                              "'fashion_mnist'"
    assert distillation.teacher_file(str(tmp_path / "run"), dataset="digits") == str(tmp_path / "run" / "model.keras")


def test_train_checks_teacher_and_init_from_before_making_its_folder(tmp_path, capsys):
    out = tmp_path / "new"
    (tmp_path / "empty").mkdir()
    tiny = ["train", "--model", "resnet20", "--input-size", "8", "--epochs", "1", "--out", str(out)]
    for argv, message in [
        (["--teacher", str(tmp_path / "empty")], f"`--teacher` '{tmp_path}/empty' is a folder without model.keras "
                                                 "(not a finished `keras-wht train` run)"),
        (["--teacher", str(tmp_path / "nope.keras")], f"`--teacher` '{tmp_path}/nope.keras' does not exist"),
        (["--init-from", str(tmp_path / "nope.h5")], f"`--init-from` '{tmp_path}/nope.h5' does not exist"),
        (["--distill-alpha", "2"], "`distill_alpha` must be a number from 0 to 1, got 2.0."),
        (["--distill-temperature", "-1"], "`distill_temperature` must be a positive number, got -1.0."),
    ]:
        assert cli.main([*tiny, *argv]) == 2
        assert capsys.readouterr().err.strip() == f"keras-wht train: {message}"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
