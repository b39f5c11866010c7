"""Training a model builder's network on an image data set: what `keras-wht train` runs."""

import csv
import json
import os

import numpy as np
import tensorflow as tf

from keras_wht import _checks, datasets, models
from keras_wht._keras import keras, walk_layers

SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "sgd")


def parse_wht(text):
    """A `--wht` value: None, a preset name, or a JSON object of Placement fields."""
    if text is None or text.lower() in ("", "none", "plain"):
        return None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"`--wht` looks like JSON but does not parse: {err}: {text!r}") from err
    return text


def build(model, *, wht, input_size, classes):
    """The network `model` with `wht`, for square RGB inputs in [0, 1]."""
    extra = {"include_preprocessing": False} if model == "mobilenet_v3_large" else {}
    return models.get(model)((input_size, input_size, 3), classes=classes, wht=wht, **extra)


def pipeline(x, y, *, input_size, batch_size, shuffle=False, augment=False, seed=0):
    """tf.data batches resized to input_size x input_size x 3, optionally with the standard
    CIFAR augmentation (pad by 1/8 of the size and crop back, random horizontal flip)."""
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    pad = input_size // 8

    def prepare(images, labels):
        images = tf.image.resize(images, (input_size, input_size))
        if images.shape[-1] == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        if augment:
            images = tf.image.pad_to_bounding_box(images, pad, pad, input_size + 2 * pad, input_size + 2 * pad)
            images = tf.map_fn(lambda im: tf.image.random_crop(im, (input_size, input_size, 3), seed=seed), images)
            images = tf.image.random_flip_left_right(images, seed=seed)
        return images, labels

    return data.batch(batch_size).map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def train(
    *,
    model="mobilenet_v2",
    wht=None,
    dataset="digits",
    epochs=5,
    batch_size=64,
    learning_rate=1e-3,
    schedule="cosine",
    optimizer="adam",
    seed=0,
    out="runs/train",
    resume=False,
    augment=False,
    distribute=False,
    input_size=32,
    recalibrate_bn=True,
    verbose=1,
):
    """Trains, checkpoints every epoch, evaluates on the test split; returns the metrics.

    Writes into `out`: checkpoint.keras (after every epoch, with the optimizer state),
    model.keras (the final model), history.csv and history.json (per-epoch loss and
    accuracy, training and validation), metrics.json (test accuracy and loss, parameters).
    `resume=True` continues from checkpoint.keras up to `epochs` in all (the optimizer and
    its learning-rate schedule carry on as they were saved).
    `recalibrate_bn` recomputes the batch-norm statistics after training (see
    `recalibrate_batch_norm`); metrics.json gives the test accuracy before and after.
    """
    models.get(model)
    _checks.one_of("schedule", schedule, SCHEDULES)
    _checks.one_of("optimizer", optimizer, OPTIMIZERS)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("input_size", input_size)):
        _checks.positive_int(name, value)
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be positive, got {learning_rate!r}.")
    keras.utils.set_random_seed(seed)

    (x_train, y_train), (x_test, y_test), classes = datasets.load(dataset, seed=seed)
    os.makedirs(out, exist_ok=True)  # only once the data is there: a failed start leaves nothing
    held_out = max(1, len(x_train) // 10)  # deterministic validation split from the training set
    x_val, y_val, x_train, y_train = x_train[:held_out], y_train[:held_out], x_train[held_out:], y_train[held_out:]
    batches = dict(input_size=input_size, batch_size=batch_size)
    train_data = pipeline(x_train, y_train, shuffle=True, augment=augment, seed=seed, **batches)
    val_data = pipeline(x_val, y_val, **batches)
    test_data = pipeline(x_test, y_test, **batches)

    checkpoint = os.path.join(out, "checkpoint.keras")
    history_csv = os.path.join(out, "history.csv")
    done = 0
    strategy = tf.distribute.MirroredStrategy() if distribute else tf.distribute.get_strategy()
    with strategy.scope():
        if resume:
            if not os.path.isfile(checkpoint):
                raise FileNotFoundError(f"--resume: no checkpoint to resume from at {checkpoint}")
            net = keras.saving.load_model(checkpoint)
            done = _epochs_done(history_csv)
        else:
            net = build(model, wht=wht, input_size=input_size, classes=classes)
            steps = epochs * -(-len(x_train) // batch_size)
            rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps) if schedule == "cosine" else learning_rate
            opt = keras.optimizers.Adam(rate) if optimizer == "adam" else keras.optimizers.SGD(rate, momentum=0.9)
            net.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    callbacks = [
        keras.callbacks.ModelCheckpoint(checkpoint),
        keras.callbacks.CSVLogger(history_csv, append=resume),
    ]
    if done < epochs:
        net.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=done, shuffle=False,
                callbacks=callbacks, verbose=verbose)
    metrics = {}
    if recalibrate_bn and _batch_norms(net):
        metrics["test_accuracy_before_recalibration"] = float(net.evaluate(test_data, verbose=0)[1])
        with strategy.scope():
            recalibrate_batch_norm(net, pipeline(x_train, y_train, **batches))
    test_loss, test_accuracy = net.evaluate(test_data, verbose=0)
    net.save(os.path.join(out, "model.keras"))
    history = _read_history(history_csv)
    with open(os.path.join(out, "history.json"), "w") as f:
        json.dump(history, f, indent=2)
    metrics = {
        **metrics,
        "model": model,
        "wht": wht,
        "dataset": dataset,
        "epochs": epochs,
        "parameters": int(net.count_params()),
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
    }
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics


def recalibrate_batch_norm(model, data):
    """Sets every BatchNormalization's moving mean and variance to the average of its batch
    statistics over `data` (one pass in training mode; no weight changes).

    Training updates the moving statistics with momentum 0.99-0.999, so after a short run
    they still remember the first steps. Where a network's maps shrink to 1x1 (MobileNetV2
    on 32x32 inputs) the real batch variances are tiny, the remembered ones large, and in
    inference mode the features fade to a constant: chance accuracy after 99% in
    training. Averaging the statistics afresh ("precise BN") fixes that.
    """
    norms = _batch_norms(model)
    momenta = [layer.momentum for layer in norms]
    try:
        for step, (images, _) in enumerate(data):
            for layer in norms:
                layer.momentum = step / (step + 1)  # moving = running mean of the batch statistics
            model(images, training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum


def _batch_norms(model):
    return [layer for layer in walk_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]


def _read_history(path):
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


def _epochs_done(path):
    rows = _read_history(path)
    return int(np.max([r["epoch"] for r in rows])) + 1 if rows else 0
