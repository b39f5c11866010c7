"""Knowledge distillation (Hinton, Vinyals and Dean 2015): a student network trained on
the labels and on a frozen teacher's tempered predictions (`keras-wht train --teacher`)."""

import json
import numbers
import os

from keras_wht import _checks
from keras_wht._keras import keras, register
from keras_wht._saved import load_saved, run_model

ops = keras.ops
TEMPERATURE = 4.0
ALPHA = 0.9
# log(0) is -inf: probabilities that underflowed to 0 count as this small (log -69).
_FLOOR = 1e-30


def check(*, temperature, alpha):
    """ValueError naming the argument unless `temperature` is a positive finite number and
    `alpha` a number from 0 to 1."""
    _checks.positive_number("distill_temperature", temperature)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"`distill_alpha` must be a number from 0 to 1, got {alpha!r}.")


def tempered(probabilities, temperature):
    """softmax(log(p) / T): the distribution a softmax network gives at temperature T (its
    logits are log(p) up to a constant, which softmax ignores)."""
    return ops.softmax(ops.log(ops.maximum(ops.cast(probabilities, "float32"), _FLOOR)) / temperature, axis=-1)


@register
class Distiller(keras.Model):
    """Trains `student` on (1 - alpha) * CE(labels, student) + alpha * T^2 *
    KL(teacher_T || student_T), where p_T = softmax(log(p) / T) and both networks end in
    softmax. The teacher is frozen and runs in inference mode; calling the Distiller calls
    the student, so its metrics are the student's.

    Args:
        student, teacher: Keras models with the same input and the same number of classes,
            each ending in softmax.
        temperature: T (default 4).
        alpha: the weight of the teacher's term (default 0.9).
        teacher_source: where the teacher came from (recorded, not read).

    Compile it with an optimizer and metrics, without a loss.
    """

    def __init__(self, student, teacher, *, temperature=TEMPERATURE, alpha=ALPHA, teacher_source=None, **kwargs):
        super().__init__(**kwargs)
        check(temperature=temperature, alpha=alpha)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.teacher_source = teacher_source
        self.hard_loss = keras.losses.SparseCategoricalCrossentropy()
        self.soft_loss = keras.losses.KLDivergence()

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        teacher = ops.stop_gradient(self.teacher(x, training=False))
        t = self.temperature
        hard = self.hard_loss(y, y_pred, sample_weight=sample_weight)
        soft = self.soft_loss(tempered(teacher, t), tempered(y_pred, t), sample_weight=sample_weight)
        return (1.0 - self.alpha) * hard + self.alpha * t * t * soft

    def get_config(self):
        return {
            "name": self.name,
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "teacher_source": self.teacher_source,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def teacher_file(path, *, dataset=None, option="--teacher"):
    """The .keras file of the teacher `path` names (a `keras-wht train` run folder: its
    model.keras; or a .keras file); ValueError naming `option` and `path` unless it exists,
    or when the run's metrics.json says it learnt another data set than `dataset` (a name
    or an absolute path, as metrics.json keeps it). Cheap: loads nothing."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"`{option}` must be the path of a run folder or a .keras file, got {path!r}.")
    path = os.fspath(path)
    if os.path.isdir(path):
        source = run_model(path, option)
        learnt = _run_dataset(path)
        if dataset is not None and learnt is not None and learnt != dataset:
            raise ValueError(f"`{option}` {path!r} learnt the data set {learnt!r}; this run trains on {dataset!r}")
        return source
    if not os.path.isfile(path):
        raise ValueError(f"`{option}` {path!r} does not exist")
    if not path.endswith(".keras"):
        raise ValueError(f"`{option}` {path!r} is not a .keras file (a run folder or a model saved by model.save)")
    return path


def _run_dataset(run):
    try:
        with open(os.path.join(run, "metrics.json")) as f:
            return json.load(f).get("dataset")
    except (OSError, ValueError, AttributeError):  # no metrics.json, or not ours: the shapes are checked on loading
        return None


def load_teacher(path, *, input_shape, classes, option="--teacher"):
    """The teacher network saved at `path` (a run folder's model.keras, or a .keras file),
    frozen; ValueError naming `option` and the file unless it loads, takes `input_shape`
    and has `classes` outputs."""
    source = teacher_file(path, option=option)
    teacher = load_saved(source, option, compile=False)  # its optimizer would be saved in each checkpoint
    teacher = getattr(teacher, "student", teacher)  # a distillation checkpoint: its student
    if len(teacher.inputs) != 1 or len(teacher.outputs) != 1:
        raise ValueError(f"`{option}` {source!r} must take one input and give one output, it takes "
                         f"{len(teacher.inputs)} and gives {len(teacher.outputs)}")
    shape, out = tuple(teacher.inputs[0].shape[1:]), tuple(teacher.outputs[0].shape[1:])
    if shape != tuple(input_shape):
        raise ValueError(f"`{option}` {source!r} takes inputs of shape {shape}, the student {tuple(input_shape)} "
                         "(train it at the same --input-size)")
    if out != (classes,):
        raise ValueError(f"`{option}` {source!r} gives outputs of shape {out}, the student's data set has {classes} "
                         "classes")
    teacher.trainable = False
    return teacher


def check_probabilities(teacher, images, *, option="--teacher", path=None):
    """ValueError naming `option` unless the teacher's outputs for `images` are
    probabilities (non-negative, summing to 1): distillation reads them as a softmax's."""
    p = keras.ops.convert_to_numpy(teacher(images, training=False))
    if not ((p >= 0).all() and abs(p.sum(axis=-1) - 1).max() < 1e-3):
        raise ValueError(f"`{option}` {path!r} does not end in softmax: its outputs are not probabilities "
                         f"(they sum to {float(p.sum(axis=-1).mean()):.3g})")
