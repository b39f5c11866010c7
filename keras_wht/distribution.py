"""Training on several devices or machines: tf.distribute strategies by name, the cluster
that TF_CONFIG describes, and what Keras 3 needs to train under them (keras-wht train
--distribute)."""

import json
import os

import tensorflow as tf

from keras_wht._keras import keras, walk_layers

# `distribute` by name (True is "mirrored"): tf.distribute.MirroredStrategy over this
# machine's devices, tf.distribute.MultiWorkerMirroredStrategy over the workers TF_CONFIG names.
STRATEGIES = ("mirrored", "multi-worker")
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


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


def strategy(distribute):
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
                           f"(TensorFlow: {' '.join(str(err).split())[:200]}): train in a fresh process") from err
    return strategy, cluster


def multi_worker_keras(net, strategy, batch):
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


def average_batch_norm_statistics(net, strategy):
    """Sets the batch-norm statistics of `net` to their mean over the replicas of `strategy`
    (a collective step under MultiWorkerMirroredStrategy: every worker runs it).

    Keras 3 makes them variables with aggregation "none": under tf.distribute each replica
    updates its own copy from its own share of each batch, and the copies drift apart (the
    validation after each epoch, and checkpoint.keras, use them so). tf_keras averaged them
    when they were read; this does it once, after training, so every replica and worker
    holds one model."""
    variables = [v for layer in [layer for layer in walk_layers(net) if isinstance(layer, keras.layers.BatchNormalization)] for v in (layer.moving_mean, layer.moving_variance)]
    if strategy.num_replicas_in_sync == 1 or not variables:
        return

    @tf.function
    def means():
        def local():
            return tf.distribute.get_replica_context().all_reduce("MEAN", [tf.identity(v) for v in variables])

        return strategy.run(local)

    for variable, mean in zip(variables, means()):
        variable.assign(strategy.experimental_local_results(mean)[0])
