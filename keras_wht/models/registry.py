"""The model registry: each builder by the name the command line gives it, its `wht`
presets (its module's PRESETS table), the preset with the paper's placement, and one
`build` for square RGB images in [0, 1]."""

from typing import Callable, NamedTuple

from keras_wht.models import mobilenet_v2, mobilenet_v3_large, resnet


class _Model(NamedTuple):
    builder: Callable
    presets: dict  # preset name -> Placement
    paper: str  # the preset with the paper's placement: what `bench models` times by default


_MODELS = {
    "mobilenet_v2": _Model(mobilenet_v2.MobileNetV2, mobilenet_v2.PRESETS, "paper-540k"),
    "mobilenet_v3_large": _Model(mobilenet_v3_large.MobileNetV3Large, mobilenet_v3_large.PRESETS,
                                 "last-third"),
    "resnet20": _Model(resnet.ResNet20, resnet.RESNET20_PRESETS, "last-third"),
    "resnet50": _Model(resnet.ResNet50, resnet.RESNET50_PRESETS, "last-third"),
}
BUILDERS = {name: model.builder for name, model in _MODELS.items()}


def names():
    """The model names, in the order the command line lists them."""
    return list(_MODELS)


def _entry(model):
    if model not in _MODELS:
        raise ValueError(f"Unknown model {model!r}; the models are: {', '.join(_MODELS)}.")
    return _MODELS[model]


def get(model):
    """The builder called `model` (a BUILDERS key); a clear error lists the others."""
    return _entry(model).builder


def presets(model):
    """The `wht` preset names a builder accepts."""
    return sorted(_entry(model).presets)


def paper_preset(model):
    """The preset of `model` that has the paper's placement."""
    return _entry(model).paper


def build(model, *, wht=None, input_size, classes=10, weights=None, alpha=1.0):
    """The network `model` with `wht` (None, a preset name or a Placement), for
    input_size x input_size RGB inputs in [0, 1]. `weights`: None, or a weights file
    (.keras or .weights.h5) of this network, or with `wht` of its plain network (the
    layers that were not replaced are copied; see models.transfer.copy_weights).
    `alpha`: the width multiplier (every builder has one)."""
    # keras.applications' MobileNetV3 rescales [0, 255] inputs itself unless told not to.
    extra = {"include_preprocessing": False} if model == "mobilenet_v3_large" else {}
    return get(model)((input_size, input_size, 3), alpha=alpha, classes=classes, wht=wht, weights=weights, **extra)


def parameter_counts(models, *, input_size, classes):
    """[{model, wht, parameters, of_plain}] for each of `models`, plain and with each preset."""
    from keras_wht._keras import keras

    rows = []
    for name in models:
        plain = None
        for preset in [None, *presets(name)]:
            count = build(name, wht=preset, input_size=input_size, classes=classes).count_params()
            keras.backend.clear_session()
            plain = plain or count
            rows.append({"model": name, "wht": preset or "none", "parameters": count,
                         "of_plain": count / plain})
    return rows


def parameter_table(rows, *, input_size, classes):
    """`parameter_counts`' rows as a rich Table."""
    from rich.table import Table

    table = Table(title=f"parameters, {input_size}x{input_size}x3 input, {classes} classes")
    for column in ("model", "wht", "parameters", "of plain"):
        table.add_column(column, justify="left" if column in ("model", "wht") else "right")
    for r in rows:
        table.add_row(r["model"], r["wht"], f"{r['parameters']:,}", f"{r['of_plain']:.1%}")
    return table
