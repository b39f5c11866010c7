"""Loading a saved Keras model with errors that name the argument, the file and why."""

import json
import os
import re
import zipfile

from keras_wht._keras import keras


def run_model(path, option):
    """The model.keras of the `keras-wht train` run folder `path`; ValueError naming `option`
    and `path` for a folder without one (not a finished run)."""
    model = os.path.join(path, "model.keras")
    if not os.path.isfile(model):
        raise ValueError(f"`{option}` {path!r} is a folder without model.keras (not a finished `keras-wht "
                         "train` run)")
    return model


def load_saved(path, name, *, compile=True):
    """The Keras model saved at `path` (a .keras file), or ValueError naming `name`, `path`
    and why it does not load (missing, not a zip archive, no config.json, an unknown layer
    class, unreadable weights, ...). keras_wht's layers must be imported (keras_wht.layers).
    `compile=False` leaves out the loss, metrics and optimizer state."""
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
        return keras.saving.load_model(path, compile=compile)
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
