"""Weights from a plain network into its WHT variant: every layer that was not replaced
keeps what the plain network learnt (the builders' `weights=` and `keras-wht train
--init-from`)."""

import dataclasses
import logging
import os
import warnings

from keras_wht._keras import keras
from keras_wht._saved import load_saved, one_line, run_model
from keras_wht.layers import WHT1D, WHT2D

SUFFIXES = (".keras", ".weights.h5")
_WHT = (WHT1D, WHT2D)
_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Copied:
    """What `copy_weights` did: the names of the layers with weights that it copied, that
    are WHT layers where the source has the layer they replaced (kept their initialisation),
    and that the source does not have (kept theirs)."""

    copied: tuple
    replaced: tuple
    missing: tuple

    def __str__(self):
        total = len(self.copied) + len(self.replaced) + len(self.missing)
        text = f"copied {len(self.copied)} of {total} layers"
        if self.replaced:
            text += f"; {len(self.replaced)} replaced by WHT layers kept their initialisation"
        if self.missing:
            text += f"; {len(self.missing)} not in the source kept theirs ({', '.join(self.missing)})"
        return text


def check_source(path, name):
    """`path` as a weights file to copy from: a .keras or .weights.h5 file, or a `keras-wht
    train` run folder (its model.keras). ValueError naming `name` and `path` otherwise.
    Cheap: looks at names only."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"`{name}` must be the path of a .keras or .weights.h5 file or of a run folder, "
                         f"got {path!r}.")
    path = os.fspath(path)
    if os.path.isdir(path):
        return run_model(path, name)
    if not os.path.isfile(path):
        raise ValueError(f"`{name}` {path!r} does not exist")
    if not path.endswith(SUFFIXES):
        raise ValueError(f"`{name}` {path!r} is neither a .keras nor a .weights.h5 file")
    return path


def copy_weights(model, source, *, twin=None, name="weights"):
    """Copies into `model`, layer by layer by name, the weights of the network saved at
    `source` (a .keras file, a run folder, or a .weights.h5 file) where a layer of that name
    exists in both and all its weights have the same shapes; returns what it did (`Copied`).

    WHT layers that stand where the source has another layer (the convolution they
    replaced) keep their own initialisation, as do layers the source does not have. A
    .weights.h5 file holds no layer names: it is loaded into `twin()` (the plain network of
    the same builder and arguments) when given, else into a copy of `model` only.

    Raises ValueError naming `name` and the file when it does not load, when nothing
    matches, or when a layer of the same name has other weight shapes or another class
    (another builder, input size, width or number of classes): it never copies half.
    """
    path = check_source(source, name)
    donor = _source_model(path, name, model, twin)
    donors = {layer.name: layer for layer in donor.layers if layer.weights}
    copied, replaced, missing, plan = [], [], [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        other = donors.get(layer.name)
        if other is None:
            missing.append(layer.name)
            continue
        if isinstance(layer, _WHT) and type(other) is not type(layer):
            replaced.append(layer.name)
            continue
        if type(other) is not type(layer):
            raise ValueError(f"`{name}` {path!r} does not fit this network: its layer {layer.name!r} is a "
                             f"{type(other).__name__}, here a {type(layer).__name__}")
        ours, theirs = [tuple(w.shape) for w in layer.weights], [tuple(w.shape) for w in other.weights]
        if ours != theirs:
            raise ValueError(f"`{name}` {path!r} does not fit this network (another model, input size or number "
                             f"of classes?): layer {layer.name!r} has weights of shapes {theirs} there, {ours} here")
        plan.append((layer, other))
        copied.append(layer.name)
    if not copied:
        raise ValueError(f"`{name}` {path!r} shares no layer with this network (no layer of the same name and "
                         "weight shapes)")
    for layer, other in plan:  # only once all of them are known to fit
        layer.set_weights(other.get_weights())
    report = Copied(tuple(copied), tuple(replaced), tuple(missing))
    _log.info("%s from %s", report, path)
    return report


def _source_model(path, name, model, twin):
    if path.endswith(".keras"):
        source = load_saved(path, name, compile=False)
        # A distillation checkpoint holds the student and its teacher: the student is the run's network.
        return getattr(source, "student", source)
    # A .weights.h5 file keeps the weights by the layers' order, not their names.
    for candidate in ([twin] if twin is not None else []) + [lambda: keras.models.clone_model(model)]:
        donor = candidate()
        try:
            with warnings.catch_warnings():  # Keras warns about each layer it skips, then raises anyway
                warnings.simplefilter("ignore")
                donor.load_weights(path)
            return donor
        except (ValueError, KeyError, OSError) as err:
            reason = one_line(err)
    raise ValueError(f"`{name}` {path!r} does not fit this network (another model, input size or number of "
                     f"classes?): it holds the weights of neither its plain twin nor itself: {reason}")
