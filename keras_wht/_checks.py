"""Argument checks shared by ops and layers: each error names the argument and the value."""

import numbers
import os


def is_power_of_two(n):
    return isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 and n & (n - 1) == 0


def next_power_of_two(n):
    """The smallest power of two >= n (n >= 1)."""
    return 1 << (int(n) - 1).bit_length()


def positive_int(name, value, *, allow_none=False):
    """Returns `value` as an int, or raises naming `name` and `value`."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(f"`{name}` must be {expected}, got {value!r}.")
    return int(value)


def positive_number(name, value):
    """Returns `value` as a float, or raises naming `name` and `value` unless it is a
    finite number above zero."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < float("inf"):
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    return float(value)


def power_of_two(name, value, *, allow_none=False):
    """Returns `value` as an int power of two, or raises naming `name` and `value`."""
    if value is None and allow_none:
        return None
    if not is_power_of_two(value):
        expected = "a positive power of two or None" if allow_none else "a positive power of two"
        raise ValueError(f"`{name}` must be {expected} (1, 2, 4, 8, ...), got {value!r}.")
    return int(value)


def int_pair(name, value, check):
    """An int or a pair of ints, each passed through `check(name, v)`; returns a 2-tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"`{name}` must be an integer or a pair of integers, got {value!r}.")
        return tuple(check(name, v) for v in value)
    v = check(name, value)
    return (v, v)


def axes(value, rank, *, name="axis"):
    """`value` (an int or a sequence of ints) as non-negative axes of a rank-`rank` input,
    in the order given; raises naming `name` and `value`."""
    given = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not given:
        raise ValueError(f"`{name}` must name at least one axis, got {value!r}.")
    for a in given:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral) or not -rank <= a < rank:
            raise ValueError(
                f"`{name}` must hold integers in [{-rank}, {rank}) for an input of rank {rank}, "
                f"got {value!r}."
            )
    result = tuple(int(a) % rank for a in given)
    if len(set(result)) != len(result):
        raise ValueError(f"`{name}` names an axis twice: {value!r}.")
    return result


def one_of(name, value, choices):
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {listed}, got {value!r}.")
    return value


def legacy_keras():
    """Whether TF_USE_LEGACY_KERAS asks for tf_keras, as TensorFlow itself reads it."""
    return os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in ("1", "true", "yes")


def require_tensorflow():
    """Raises ImportError saying how to install them unless TensorFlow and Keras are
    importable: the layers, models, training and conversion need them; running converted
    models (keras_wht.tflite.Interpreter) does not."""
    import importlib.util

    missing = [m for m in ("tensorflow", "tf_keras" if legacy_keras() else "keras")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"keras-wht's layers, models, training and conversion need {' and '.join(missing)}, which "
            "this environment lacks: pip install 'keras-wht[tensorflow]'. Running converted models needs only "
            "a TFLite runtime (keras_wht.tflite.Interpreter), not TensorFlow."
        )
