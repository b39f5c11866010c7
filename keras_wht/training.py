"""Training a model builder's network on an image data set: what `keras-wht train` runs."""

import csv
import json
import numbers
import os
import shutil
import tempfile

import numpy as np

from keras_wht import _checks, _files, datasets, distillation, distribution, models
from keras_wht._keras import keras, walk_layers
from keras_wht._saved import load_saved, one_line  # noqa: F401  (public here too)
from keras_wht.datasets.pipeline import FITS, pipeline
from keras_wht.models import transfer

SCHEDULES = ("constant", "cosine")
# Batch-norm momentum while training: moving statistics that forget within about ten
# steps, so the model Keras validates after each epoch is the model as it will be used.
# Keras' default (0.99) and MobileNet's (0.999, as keras.applications) remember the first
# steps for hundreds or thousands of steps: on digits (81 steps an epoch) MobileNetV2's
# validation accuracy sat at chance for all 30 epochs, its depthwise layers' moving
# variances 60-630x their batch variances.
BATCH_NORM_MOMENTUM = 0.9
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


def check(*, model="mobilenet_v2", wht=None, alpha=1.0, dataset="digits", epochs=5, batch_size=64, learning_rate=1e-3,
          schedule="cosine", optimizer="adam", seed=0, input_size=32, out="runs/train", resume=False,
          distribute=False, fit="resize", train_size=None, init_from=None, teacher=None,
          distill_temperature=distillation.TEMPERATURE, distill_alpha=distillation.ALPHA):
    """Raises ValueError naming the argument and its value unless `train` can start with these
    (FileNotFoundError for `resume` without a checkpoint in `out`; for `distribute`
    "multi-worker", ValueError naming TF_CONFIG unless it describes a cluster and this
    worker's task). Cheap: loads, builds and makes nothing, and runs no TensorFlow op;
    `train` runs it first. `init_from` and `teacher` must name files or run folders (their
    shapes are checked when `prepare` loads them)."""
    if distribution.strategy_name(distribute) == "multi-worker":
        distribution.read_tf_config()
    models.get(model)
    _check_alpha(alpha)
    if isinstance(wht, str) and wht not in models.presets(model):
        raise ValueError(f"Unknown `wht` preset {wht!r} for {model}; the presets are: "
                         f"{', '.join(models.presets(model))}.")
    datasets.check(dataset)
    _checks.one_of("fit", fit, FITS)
    datasets.check_train_size(train_size)
    _checks.one_of("schedule", schedule, SCHEDULES)
    _checks.one_of("optimizer", optimizer, OPTIMIZERS)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("input_size", input_size)):
        _checks.positive_int(name, value)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be positive, got {learning_rate!r}.")
    if not np.isfinite(learning_rate):
        raise ValueError(f"`learning_rate` must be finite, got {learning_rate!r}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"`seed` must be an integer from 0 to 2**32 - 1, got {seed!r}.")
    if init_from is not None:
        transfer.check_source(init_from, "--init-from")
    distillation.check(temperature=distill_temperature, alpha=distill_alpha)
    if teacher is not None:
        distillation.teacher_file(teacher, dataset=datasets.resolve(dataset))
    if resume and not os.path.isfile(os.path.join(out, "checkpoint.keras")):
        raise FileNotFoundError(f"--resume: no checkpoint to resume from at {os.path.join(out, 'checkpoint.keras')}")


class Run:
    """A training run that `prepare` checked and set up (data loaded, network built or loaded
    from the checkpoint) but has not started: `fit()` starts it. Nothing is written before."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def fit(self, verbose=1):
        """Trains, evaluates and writes the outputs into `out` (see `train`); returns the metrics.

        In a multi-worker run every worker calls this and takes part in every step (training,
        validation and evaluation are collective); only the chief writes into `out`. The
        others write the same files into a temporary folder that is removed afterwards, so
        all workers run the very same steps whatever Keras makes collective (ModelCheckpoint's
        saves are not collective in Keras 3.15; in tf_keras they were)."""
        if self.chief:
            return self._fit(self.out, verbose)
        with tempfile.TemporaryDirectory(prefix="keras-wht-worker-") as scratch:
            return self._fit(scratch, verbose)

    def _fit(self, out, verbose):
        net, strategy = self.net, self.strategy
        distiller = net if isinstance(net, distillation.Distiller) else None
        checkpoint = os.path.join(out, "checkpoint.keras")
        history_csv = os.path.join(out, "history.csv")
        made = _missing_ancestor(out)
        os.makedirs(out, exist_ok=True)  # only now: a run that cannot start leaves nothing
        try:
            callbacks = [
                keras.callbacks.ModelCheckpoint(checkpoint),
                keras.callbacks.CSVLogger(history_csv, append=self.resume),
            ]
            if self.done < self.epochs:
                net.fit(self.train_data, validation_data=self.val_data, epochs=self.epochs, initial_epoch=self.done,
                        shuffle=False, callbacks=callbacks, verbose=verbose)
        except BaseException:
            if made and not os.path.exists(checkpoint):  # failed before its first epoch: as it was
                shutil.rmtree(made, ignore_errors=True)
            raise
        if distiller is not None:  # from here on the student alone: it is the run's network
            net = self._student(distiller)
        distribution.average_batch_norm_statistics(net, strategy)
        metrics = {}
        if self.recalibrate_bn and _batch_norms(net):
            metrics["test_accuracy_before_recalibration"] = float(net.evaluate(self.test_data, verbose=0)[1])
            # Eagerly, outside the training steps: under MultiWorkerMirroredStrategy each worker
            # recalibrates on its own over all of the (unsharded, unshuffled) data, with no
            # collective op, and the statistics come out the same on every worker.
            with strategy.scope():
                recalibrate_batch_norm(net, self.recalibration_data)
        test_loss, test_accuracy = net.evaluate(self.test_data, verbose=0)
        _save_model(net, os.path.join(out, "model.keras"))
        _files.write_file(os.path.join(out, "history.json"), json.dumps(_read_history(history_csv), indent=2))
        metrics = {
            **metrics,
            "model": self.model,
            "wht": self.wht,
            "alpha": self.alpha,
            "dataset": self.dataset,
            "epochs": self.epochs,
            # What keras-wht accuracy and qat need to prepare the same splits the same way:
            "seed": self.seed,
            "input_size": self.input_size,
            "fit": self.image_fit,
            "train_size": self.train_size,
            "init_from": self.init_from,
            "init_from_copied": self.copied,
            **({"teacher": distiller.teacher_source, "distill_temperature": distiller.temperature,
                "distill_alpha": distiller.alpha} if distiller is not None else {"teacher": None}),
            "parameters": int(net.count_params()),
            "test_accuracy": float(test_accuracy),
            "test_loss": float(test_loss),
            "distribute": self.distribute,
            "workers": self.workers,
            "replicas": int(strategy.num_replicas_in_sync),
        }
        _files.write_file(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=2))
        return metrics

    def _student(self, distiller):
        """The distiller's student, compiled to be evaluated and saved as a plain run's network
        (cross-entropy and accuracy, the distiller's optimizer and its state)."""
        student = distiller.student
        with self.strategy.scope():
            student.compile(optimizer=distiller.optimizer, loss="sparse_categorical_crossentropy",
                            metrics=["accuracy"])
        if self.workers > 1:
            distribution.multi_worker_keras(student, self.strategy, next(iter(self.val_data)))
        return student


def prepare(
    *,
    model="mobilenet_v2",
    wht=None,
    alpha=1.0,
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
    fit="resize",
    train_size=None,
    recalibrate_bn=True,
    init_from=None,
    teacher=None,
    distill_temperature=distillation.TEMPERATURE,
    distill_alpha=distillation.ALPHA,
):
    """A `Run` of `train` with these arguments, checked and ready: raises ValueError (an
    argument, a `wht` placement the network does not have, a checkpoint that does not
    load, TF_CONFIG for "multi-worker"), FileNotFoundError (`resume` without a
    checkpoint), RuntimeError (a data set that does not download, "multi-worker" in a
    process that already ran TensorFlow ops) or ImportError (scikit-learn missing for
    digits) before `out` exists. With "multi-worker" it returns once every worker of the
    cluster has started: TensorFlow waits for them, without a time limit."""
    check(model=model, wht=wht, alpha=alpha, dataset=dataset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
          schedule=schedule, optimizer=optimizer, seed=seed, input_size=input_size, out=out, resume=resume,
          distribute=distribute, fit=fit, train_size=train_size, init_from=init_from, teacher=teacher,
          distill_temperature=distill_temperature, distill_alpha=distill_alpha)
    # The strategy comes first: MultiWorkerMirroredStrategy sets up TensorFlow's collective
    # ops and its server, which it can do only before the process runs its first TensorFlow
    # op (the seed, the data and the network all run some).
    distribute = distribution.strategy_name(distribute)
    strategy, cluster = distribution.strategy(distribute)
    keras.utils.set_random_seed(seed)

    data = datasets.splits(dataset, seed=seed, input_size=input_size, fit=fit, train_size=train_size)
    (x_train, y_train), classes = data.train, data.classes
    batches = dict(input_size=input_size, batch_size=batch_size, fit=fit)

    val_data = pipeline(*data.validation, **batches)
    done, copied = 0, None
    with strategy.scope():
        steps = epochs * -(-len(x_train) // batch_size)
        if resume:  # the checkpoint holds the weights, and a distillation's teacher
            net = load_saved(os.path.join(out, "checkpoint.keras"), "--resume")
            done = _epochs_done(os.path.join(out, "history.csv"))
            _stretch_schedule(net.optimizer, steps)
        else:
            net = models.build(model, wht=wht, alpha=alpha, input_size=input_size, classes=classes)
            if init_from is not None:
                copied = str(transfer.copy_weights(net, init_from, name="--init-from", twin=lambda: models.build(
                    model, alpha=alpha, input_size=input_size, classes=classes)))
            for layer in _batch_norms(net):  # saved in the checkpoint's config, so --resume keeps it
                layer.momentum = min(layer.momentum, BATCH_NORM_MOMENTUM)
            if teacher is not None:
                frozen = distillation.load_teacher(teacher, input_shape=(input_size, input_size, 3), classes=classes)
                distillation.check_probabilities(frozen, next(iter(val_data))[0], path=teacher)
                net = distillation.Distiller(net, frozen, temperature=distill_temperature, alpha=distill_alpha,
                                             teacher_source=os.path.abspath(teacher))
            rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps) if schedule == "cosine" else learning_rate
            opt = keras.optimizers.Adam(rate) if optimizer == "adam" else keras.optimizers.SGD(rate, momentum=0.9)
            loss = None if teacher is not None else "sparse_categorical_crossentropy"  # the distiller has its own
            net.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    if cluster["workers"] > 1:
        distribution.multi_worker_keras(net, strategy, next(iter(val_data)))
    return Run(
        model=model, wht=wht, alpha=alpha, dataset=datasets.resolve(dataset), epochs=epochs, seed=seed, out=out, resume=resume,
        recalibrate_bn=recalibrate_bn, input_size=input_size, image_fit=fit, train_size=train_size,
        init_from=None if init_from is None else os.path.abspath(init_from), copied=copied,
        net=net, strategy=strategy, done=done, distribute=distribute, **cluster,
        train_data=pipeline(x_train, y_train, shuffle=True, augment=augment, seed=seed, **batches),
        val_data=val_data,
        test_data=pipeline(*data.test, **batches),
        recalibration_data=pipeline(x_train, y_train, **batches),
    )


def train(
    *,
    model="mobilenet_v2",
    wht=None,
    alpha=1.0,
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
    fit="resize",
    train_size=None,
    recalibrate_bn=True,
    init_from=None,
    teacher=None,
    distill_temperature=distillation.TEMPERATURE,
    distill_alpha=distillation.ALPHA,
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

    `alpha`: the network's width multiplier.

    `dataset`: a name in keras_wht.datasets.NAMES, a folder of class folders or an .npz
    file (see keras_wht.datasets.load). `fit`: "resize" the images to `input_size`, or
    "pad" them with zeros around the centre. `train_size`: train on the first
    `train_size` training images only (a tenth of them validates).

    `distribute`: False (one device), True or "mirrored" (tf.distribute.MirroredStrategy
    over this machine's devices), or "multi-worker" (tf.distribute.MultiWorkerMirroredStrategy
    over the cluster that the TF_CONFIG environment variable describes: every worker runs
    the same `train`, in a process that has not run TensorFlow ops yet). `batch_size` is
    the global batch, split between the replicas. Only the chief writes into `out`; the
    other workers take part in every step and write nothing. metrics.json records the
    number of workers and replicas.

    `init_from`: a plain (or the same) network's weights to start from, a run folder or a
    .keras or .weights.h5 file: every layer of the same name and shapes is copied, the WHT
    layers keep their initialisation (keras_wht.models.transfer). `teacher`: a run folder
    or .keras file of a network trained on the same data set and classes; the network is
    distilled from it (keras_wht.distillation.Distiller, with `distill_temperature` and
    `distill_alpha`); checkpoint.keras holds both, model.keras the student alone.
    metrics.json records both.

    Every argument is checked, the data loaded and the network built before `out` is made
    (see `prepare`); a run that fails before its first epoch removes the folders it made.
    model.keras, history.json and metrics.json are written whole or not at all.
    """
    return prepare(
        model=model, wht=wht, alpha=alpha, dataset=dataset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        schedule=schedule, optimizer=optimizer, seed=seed, out=out, resume=resume, augment=augment,
        distribute=distribute, input_size=input_size, fit=fit, train_size=train_size, recalibrate_bn=recalibrate_bn,
        init_from=init_from, teacher=teacher, distill_temperature=distill_temperature, distill_alpha=distill_alpha,
    ).fit(verbose=verbose)


def _check_alpha(alpha):
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not (alpha > 0 and np.isfinite(alpha)):
        raise ValueError(f"`alpha` must be a positive number, got {alpha!r}.")


def _missing_ancestor(path):
    """The outermost folder of `path` that does not exist yet (None if `path` exists)."""
    path, missing = os.path.abspath(path), None
    while not os.path.exists(path):
        missing, path = path, os.path.dirname(path)
    return missing


def _save_model(net, path):
    """net.save(path), whole or not at all."""
    with _files.replacing(path, suffix=".keras") as temporary:
        net.save(temporary)


def recalibrate_batch_norm(model, data):
    """Sets every BatchNormalization's moving mean and variance to the average of its batch
    statistics over `data` (one pass in training mode; no weight changes).

    The moving statistics are an exponential average over the last steps of training,
    taken while the weights still moved; averaging them afresh over the final weights
    ("precise BN") is worth about a point of test accuracy on digits. With a high momentum
    (0.99-0.999, Keras' and MobileNet's defaults) and a short run it matters far more: the
    statistics still remember the first steps, and where the real batch variances are
    small (MobileNetV2 on 32x32 inputs, from the 16x16 stage on) the features fade to a
    constant in inference mode, at chance accuracy. `train` trains with momentum 0.9
    (BATCH_NORM_MOMENTUM) and recalibrates after training.
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


def _stretch_schedule(optimizer, steps):
    """A resumed run's cosine decay ends with its `epochs`, which may be more than the
    checkpoint's run was given: the decay then spans the new total (on from the step reached,
    as if the run had had that budget from the start), not staying at 0 past the old one."""
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.CosineDecay):
        schedule.decay_steps = steps


def _epochs_done(path):
    rows = _read_history(path)
    return int(np.max([r["epoch"] for r in rows])) + 1 if rows else 0
