"""Training a model builder's network on an image data set: what `keras-wht train` runs."""

import csv
import json
import numbers
import os
import re
import shutil
import tempfile
import zipfile

import numpy as np
import tensorflow as tf

from keras_wht import _checks, _files, datasets, models
from keras_wht._keras import keras, walk_layers

SCHEDULES = ("constant", "cosine")
# Batch-norm momentum while training: moving statistics that forget within about ten
# steps, so the model Keras validates after each epoch is the model as it will be used.
# Keras' default (0.99) and MobileNet's (0.999, as keras.applications) remember the first
# steps for hundreds or thousands of steps: on digits (81 steps an epoch) MobileNetV2's
# validation accuracy sat at chance for all 30 epochs, its depthwise layers' moving
# variances 60-630x their batch variances.
BATCH_NORM_MOMENTUM = 0.9
OPTIMIZERS = ("adam", "sgd")
# `distribute` by name (True is "mirrored"): tf.distribute.MirroredStrategy over this
# machine's devices, tf.distribute.MultiWorkerMirroredStrategy over the workers TF_CONFIG names.
STRATEGIES = ("mirrored", "multi-worker")
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


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

    # Under MultiWorkerMirroredStrategy every worker runs this pipeline and keeps its share of
    # each batch (DATA sharding; the default, AUTO, first tries to shard by input file, which
    # arrays do not have). The same seed on every worker gives the same shuffled order.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = data.batch(batch_size).map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    return batches.with_options(options)


def strategy_name(distribute):
    """`distribute` as None (no strategy) or one of STRATEGIES; ValueError naming it unless it
    is False, None, True ("mirrored") or one of STRATEGIES."""
    if distribute is None or distribute is False:
        return None
    if distribute is True:
        return "mirrored"
    if isinstance(distribute, str) and distribute in STRATEGIES:
        return distribute
    raise ValueError(f"`distribute` must be False, True, 'mirrored' or 'multi-worker', got {distribute!r}.")


def read_tf_config(text=None):
    """This worker's place in the cluster that TF_CONFIG (or `text`) describes, as
    MultiWorkerMirroredStrategy reads it: {"workers": how many, "task": (type, index),
    "chief": whether this worker writes the outputs (the "chief" task, or worker 0 in a
    cluster without one)}. Raises ValueError naming TF_CONFIG and what is wrong with it."""
    if text is None:
        text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        raise ValueError("`distribute` 'multi-worker' needs the TF_CONFIG environment variable, which is not set: "
                         "JSON naming every worker of the cluster and this worker's task, such as "
                         f"{TF_CONFIG_EXAMPLE}.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not JSON ({err}): {text!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object with \"cluster\" and \"task\", got {text!r}")
    cluster, task = config.get("cluster"), config.get("task")
    if not cluster:
        raise ValueError("TF_CONFIG has no \"cluster\" (the address of every worker, such as "
                         f"{{\"worker\": [\"host1:12345\", \"host2:12345\"]}}): {text!r}")
    jobs = ("chief", "worker")
    if not isinstance(cluster, dict) or not set(cluster) <= set(jobs) or "worker" not in cluster and "chief" not in cluster:
        raise ValueError("TF_CONFIG's \"cluster\" must map \"worker\" (and optionally \"chief\") to lists of "
                         f"\"host:port\" addresses, got {json.dumps(cluster)}")
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and ":" in a for a in addresses):
            raise ValueError(f"TF_CONFIG's \"cluster\" must list \"host:port\" addresses for {job!r}, "
                             f"got {json.dumps(addresses)}")
    if len(cluster.get("chief", [])) > 1:
        raise ValueError(f"TF_CONFIG's \"cluster\" may have one \"chief\", got {json.dumps(cluster['chief'])}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError("TF_CONFIG has no \"task\" with a \"type\" and an \"index\" (this worker's place in the "
                         f"cluster, such as {{\"type\": \"worker\", \"index\": 0}}): {text!r}")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise ValueError(f"TF_CONFIG's task type {kind!r} is not in its cluster, which has "
                         f"{' and '.join(repr(job) for job in cluster)}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ValueError(f"TF_CONFIG's task index {index!r} is not an index into its cluster's "
                         f"{len(cluster[kind])} {kind!r} address(es)")
    chief = kind == "chief" or (index == 0 and "chief" not in cluster)
    return {"workers": sum(len(addresses) for addresses in cluster.values()), "task": (kind, index), "chief": chief}


def check(*, model="mobilenet_v2", wht=None, dataset="digits", epochs=5, batch_size=64, learning_rate=1e-3,
          schedule="cosine", optimizer="adam", seed=0, input_size=32, out="runs/train", resume=False,
          distribute=False):
    """Raises ValueError naming the argument and its value unless `train` can start with these
    (FileNotFoundError for `resume` without a checkpoint in `out`; for `distribute`
    "multi-worker", ValueError naming TF_CONFIG unless it describes a cluster and this
    worker's task). Cheap: loads, builds and makes nothing, and runs no TensorFlow op;
    `train` runs it first."""
    if strategy_name(distribute) == "multi-worker":
        read_tf_config()
    models.get(model)
    if isinstance(wht, str) and wht not in models.presets(model):
        raise ValueError(f"Unknown `wht` preset {wht!r} for {model}; the presets are: "
                         f"{', '.join(models.presets(model))}.")
    if dataset not in datasets.NAMES:
        raise ValueError(f"Unknown dataset {dataset!r}; the datasets are: {', '.join(datasets.NAMES)}.")
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
    if resume and not os.path.isfile(os.path.join(out, "checkpoint.keras")):
        raise FileNotFoundError(f"--resume: no checkpoint to resume from at {os.path.join(out, 'checkpoint.keras')}")


def load_saved(path, name):
    """The Keras model saved at `path` (a .keras file), or ValueError naming `name`, `path`
    and why it does not load (missing, not a zip archive, no config.json, an unknown layer
    class, unreadable weights, ...). keras_wht's layers must be imported (keras_wht.layers)."""
    if os.path.isdir(path):
        raise ValueError(f"`{name}` {path!r} is a folder, not a .keras file")
    if not os.path.isfile(path):
        raise ValueError(f"`{name}` {path!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"`{name}` {path!r} is not a .keras file (a zip archive saved by model.save)")
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise ValueError(f"`{name}` {path!r} has no config.json: it is a zip archive, but not a model "
                                 "saved by model.save")
            config = archive.read("config.json")
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"`{name}` {path!r} is a damaged zip archive: {one_line(err)}") from err
    try:
        json.loads(config)
    except ValueError as err:  # UnicodeDecodeError and json.JSONDecodeError
        raise ValueError(f"`{name}` {path!r} holds a config.json that is not JSON: {one_line(err)}") from err
    try:
        return keras.saving.load_model(path)
    except (ValueError, TypeError, KeyError, AttributeError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"`{name}` {path!r} does not load: {one_line(err)}") from err


def one_line(err, limit=200):
    """The first sentence of the innermost exception `err` was raised from (Keras wraps the
    reason, such as "Could not locate class 'X'.", in pages of configuration), on one line."""
    while True:  # down the "raised from" chain, and "while handling" where it is an error of the same kinds
        inner = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
        if inner is None or (err.__cause__ is None and not isinstance(inner, (ValueError, TypeError, OSError))):
            break
        err = inner
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        text = err.args[0]
    sentence = re.split(r"(?<=\.) (?=[A-Z])", text, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 3] + "..."


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
        _average_batch_norm_statistics(net, strategy)
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
            "dataset": self.dataset,
            "epochs": self.epochs,
            "seed": self.seed,  # the data set's split (keras-wht accuracy evaluates on the same)
            "parameters": int(net.count_params()),
            "test_accuracy": float(test_accuracy),
            "test_loss": float(test_loss),
            "distribute": self.distribute,
            "workers": self.workers,
            "replicas": int(strategy.num_replicas_in_sync),
        }
        _files.write_file(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=2))
        return metrics


def prepare(
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
):
    """A `Run` of `train` with these arguments, checked and ready: raises ValueError (an
    argument, a `wht` placement the network does not have, a checkpoint that does not
    load, TF_CONFIG for "multi-worker"), FileNotFoundError (`resume` without a
    checkpoint), RuntimeError (a data set that does not download, "multi-worker" in a
    process that already ran TensorFlow ops) or ImportError (scikit-learn missing for
    digits) before `out` exists. With "multi-worker" it returns once every worker of the
    cluster has started: TensorFlow waits for them, without a time limit."""
    check(model=model, wht=wht, dataset=dataset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
          schedule=schedule, optimizer=optimizer, seed=seed, input_size=input_size, out=out, resume=resume,
          distribute=distribute)
    # The strategy comes first: MultiWorkerMirroredStrategy sets up TensorFlow's collective
    # ops and its server, which it can do only before the process runs its first TensorFlow
    # op (the seed, the data and the network all run some).
    distribute = strategy_name(distribute)
    strategy, cluster = _strategy(distribute)
    keras.utils.set_random_seed(seed)

    (x_train, y_train), (x_test, y_test), classes = datasets.load(dataset, seed=seed)
    held_out = max(1, len(x_train) // 10)  # deterministic validation split from the training set
    x_val, y_val, x_train, y_train = x_train[:held_out], y_train[:held_out], x_train[held_out:], y_train[held_out:]
    batches = dict(input_size=input_size, batch_size=batch_size)

    done = 0
    with strategy.scope():
        if resume:
            net = load_saved(os.path.join(out, "checkpoint.keras"), "--resume")
            done = _epochs_done(os.path.join(out, "history.csv"))
        else:
            net = models.build(model, wht=wht, input_size=input_size, classes=classes)
            for layer in _batch_norms(net):  # saved in the checkpoint's config, so --resume keeps it
                layer.momentum = min(layer.momentum, BATCH_NORM_MOMENTUM)
            steps = epochs * -(-len(x_train) // batch_size)
            rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps) if schedule == "cosine" else learning_rate
            opt = keras.optimizers.Adam(rate) if optimizer == "adam" else keras.optimizers.SGD(rate, momentum=0.9)
            net.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    val_data = pipeline(x_val, y_val, **batches)
    if cluster["workers"] > 1:
        _multi_worker_keras(net, strategy, next(iter(val_data)))
    return Run(
        model=model, wht=wht, dataset=dataset, epochs=epochs, seed=seed, out=out, resume=resume,
        recalibrate_bn=recalibrate_bn,
        net=net, strategy=strategy, done=done, distribute=distribute, **cluster,
        train_data=pipeline(x_train, y_train, shuffle=True, augment=augment, seed=seed, **batches),
        val_data=val_data,
        test_data=pipeline(x_test, y_test, **batches),
        recalibration_data=pipeline(x_train, y_train, **batches),
    )


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

    `distribute`: False (one device), True or "mirrored" (tf.distribute.MirroredStrategy
    over this machine's devices), or "multi-worker" (tf.distribute.MultiWorkerMirroredStrategy
    over the cluster that the TF_CONFIG environment variable describes: every worker runs
    the same `train`, in a process that has not run TensorFlow ops yet). `batch_size` is
    the global batch, split between the replicas. Only the chief writes into `out`; the
    other workers take part in every step and write nothing. metrics.json records the
    number of workers and replicas.

    Every argument is checked, the data loaded and the network built before `out` is made
    (see `prepare`); a run that fails before its first epoch removes the folders it made.
    model.keras, history.json and metrics.json are written whole or not at all.
    """
    return prepare(
        model=model, wht=wht, dataset=dataset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        schedule=schedule, optimizer=optimizer, seed=seed, out=out, resume=resume, augment=augment,
        distribute=distribute, input_size=input_size, recalibrate_bn=recalibrate_bn,
    ).fit(verbose=verbose)


def _strategy(distribute):
    """The tf.distribute strategy `distribute` (a name from `strategy_name`) asks for, and
    this process's place among the workers: {"workers", "task", "chief"} (see read_tf_config)."""
    alone = {"workers": 1, "task": None, "chief": True}
    if distribute is None:
        return tf.distribute.get_strategy(), alone
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy(), alone
    cluster = read_tf_config()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as err:  # "Collective ops must be configured at program startup"
        raise RuntimeError(f"`distribute` 'multi-worker' must start before this process runs any TensorFlow op "
                           f"(TensorFlow: {one_line(err)}): train in a fresh process") from err
    return strategy, cluster


def _multi_worker_keras(net, strategy, batch):
    """Lets Keras 3's TensorFlow trainer (3.15) fit and evaluate `net` under a
    MultiWorkerMirroredStrategy of more than one worker, where it fails twice
    (keras-team/keras#20585):

    - before the first step, `fit` and `evaluate` average a batch of data over the workers
      (strategy.reduce, only to learn its shapes), which MultiWorkerMirroredStrategy cannot
      do for an (images, labels) pair: "ValueError: Attempt to convert a value
      (PerReplica:...) with an unsupported type". Here `net` is built from a local `batch`
      instead and that step is skipped.
    - each step's loss and metrics are averaged over the workers with
      strategy.reduce("MEAN", value, axis=0), and they are scalars: "Invalid reduction
      dimension 0 for input with 0 dimensions". Here the steps return them with a leading
      axis of length 1, which that average takes away.

    What Keras reports after each epoch and what `evaluate` returns do not come from those
    averages: Keras reads the metrics' variables, summed over all workers. Only the running
    values of the progress bar are an average of the workers' own."""
    missing = [name for name in ("_symbolic_build", "_maybe_symbolic_build") if not hasattr(net, name)]
    if missing:
        raise RuntimeError(
            f"--distribute multi-worker works around keras-team/keras#20585 through Keras' trainer "
            f"{', '.join(missing)}, which Keras {keras.__version__} does not have; keras-wht is tested with "
            "Keras 3.15 and TensorFlow 2.21."
        )
    with strategy.scope():
        net._symbolic_build(data_batch=batch)  # the model, its metrics, loss and optimizer
    net._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

    def with_leading_axis(step):
        return lambda data: {name: tf.reshape(value, [1]) for name, value in step(data).items()}

    net.train_step = with_leading_axis(net.train_step)
    net.test_step = with_leading_axis(net.test_step)


def _average_batch_norm_statistics(net, strategy):
    """Sets the batch-norm statistics of `net` to their mean over the replicas of `strategy`
    (a collective step under MultiWorkerMirroredStrategy: every worker runs it).

    Keras 3 makes them variables with aggregation "none": under tf.distribute each replica
    updates its own copy from its own share of each batch, and the copies drift apart (the
    validation after each epoch, and checkpoint.keras, use them so). tf_keras averaged them
    when they were read; this does it once, after training, so every replica and worker
    holds one model."""
    variables = [v for layer in _batch_norms(net) for v in (layer.moving_mean, layer.moving_variance)]
    if strategy.num_replicas_in_sync == 1 or not variables:
        return

    @tf.function
    def means():
        def local():
            return tf.distribute.get_replica_context().all_reduce("MEAN", [tf.identity(v) for v in variables])

        return strategy.run(local)

    for variable, mean in zip(variables, means()):
        variable.assign(strategy.experimental_local_results(mean)[0])


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


def _epochs_done(path):
    rows = _read_history(path)
    return int(np.max([r["epoch"] for r in rows])) + 1 if rows else 0
