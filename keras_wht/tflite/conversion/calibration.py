"""Input data for conversion: int8 calibration samples and parity inputs, checked
against the model's inputs with errors that name the argument."""

import numpy as np

from keras_wht.tflite.conversion import rewrite, signature


def arrays(data, model, what):
    """`data` (an array, a list in the model's input order, or a dict by input name) as a
    list of float32 arrays in the model's input order."""
    names = signature.input_names(model)
    if isinstance(data, dict):
        unknown, missing = sorted(set(map(str, data)) - set(names)), [n for n in names if n not in data]
        if unknown or missing:
            raise ValueError(f"`{what}` is a dict by input name: the model's inputs are {names}"
                             f"{f', missing {missing}' if missing else ''}{f', unknown {unknown}' if unknown else ''}.")
        data = [data[n] for n in names]
    given = list(data) if isinstance(data, (list, tuple)) else [data]
    if names and len(given) != len(names):
        raise ValueError(f"`{what}` must give {len(names)} input(s) ({', '.join(names)}), got {len(given)}.")
    converted = []
    for k, a in enumerate(given):
        try:
            converted.append(np.asarray(a, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise ValueError(f"`{what}` for input {_label(names, k)} must be numbers, got {type(a).__name__}: "
                             f"{err}.") from err
    return converted


def _label(names, k):
    return repr(names[k]) if k < len(names) else str(k)


def check_samples(given, model, what, *, first=False):
    """Raises a ValueError naming `what` when `given` (one array per model input, batch
    first) does not fit the model's inputs, holds no samples, or values that are not finite."""
    names = signature.input_names(model)
    shapes = [tuple(t.shape) for t in signature.model_inputs(model)]
    sample = "its first sample " if first else ""
    for k, (a, shape) in enumerate(zip(given, shapes)):
        wanted = tuple("?" if d is None else d for d in shape[1:])
        fits = a.ndim == len(shape) and all(d is None or d == n for d, n in zip(shape[1:], a.shape[1:]))
        if not fits:
            raise ValueError(
                f"`{what}` does not fit input {_label(names, k)}: {sample}has shape {a.shape}, the model takes "
                f"(samples, {', '.join(map(str, wanted))}{',' if len(wanted) == 1 else ''}) "
                f"(per sample {wanted}, got {a.shape[1:]})."
            )
        if len(a) == 0:
            raise ValueError(f"`{what}` has no samples: {sample}input {_label(names, k)} has shape {a.shape}.")
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        if bad:
            raise ValueError(f"`{what}` holds {bad} NaN or infinite value(s) in {sample}input {_label(names, k)} "
                             f"(of {a.size}): calibration needs finite inputs.")


def representative(data, model):
    """The calibration data as a callable yielding lists of float32 arrays in the model's
    input order, checked against the model's inputs first: one sample at a time, or for a
    model whose inputs have a fixed batch size (keras.Input(batch_size=b)), b at a time."""
    if not callable(data):
        given = arrays(data, model, "representative_data")
        check_samples(given, model, "representative_data")
        batch = _fixed_batch(model)
        if len(given[0]) < batch:
            raise ValueError(f"`representative_data` has {len(given[0])} sample(s); the model's inputs take batches "
                             f"of {batch}: give at least {batch}.")

        def generate():
            for i in range(0, len(given[0]) - batch + 1, batch):
                yield [a[i:i + batch] for a in given]

        return generate

    # Drawn once and kept: calibration takes several passes (TFLite's calibrator, the
    # measured ranges, the int8 interface), and a callable may return one iterator each
    # time rather than a fresh generator.
    what = "representative_data()"
    drawn = []
    for sample in data():
        drawn.append(arrays(sample, model, what))
        check_samples(drawn[-1], model, what, first=len(drawn) == 1)
    if not drawn:
        raise ValueError(f"`{what}` yields no samples.")

    def generate():
        yield from drawn

    return generate


def by_name(samples, model):
    """Calibration samples as TFLite's converter wants them: for several inputs a dict by
    signature (Keras input) name, since it feeds a list in its own tensor order."""
    names = signature.tensor_names(model)
    if len(names) <= 1 or len(set(names)) != len(names):
        return samples

    def generate():
        for sample in samples():
            yield dict(zip(names, sample))

    return generate


def _fixed_batch(model):
    """The batch size the model's inputs fix (1 where it is free)."""
    sizes = {shape[0] for shape in (tuple(t.shape) for t in model.inputs) if shape and shape[0] is not None}
    return int(max(sizes)) if sizes else 1


def ranges(model, samples):
    """(input ranges, output ranges) as (low, high) pairs over the calibration samples."""
    drawn = [list(s) for s in samples()]
    inputs = [np.concatenate([s[k] for s in drawn]) for k in range(len(drawn[0]))]
    outputs = signature.keras_outputs(model, inputs)
    return [(a.min(), a.max()) for a in inputs], [(a.min(), a.max()) for a in outputs]


def measured_ranges(calibrated, samples, model):
    """{tensor index: (min, max)} of every tensor TFLite's calibrator gave a range in
    `calibrated` (a calibrated float model), measured by running it on the calibration
    `samples` with every intermediate tensor kept.

    For a tensor that an op overwrites in place (a batch norm's MUL after a WHT layer),
    TFLite's calibrator (TF 2.21) records the range of that op's output instead: 3-6x too
    wide after the WHT layers of MobileNetV2 `paper-540k`, which cost the custom-op path 8
    points of int8 accuracy (tests/tflite/test_quantization.py shows it on a small
    network). Running with every tensor kept gives the true ranges.
    """
    from keras_wht.tflite.runtime.interpreter import Interpreter

    ranged = sorted(rewrite.calibrated_ranges(calibrated))
    interpreter = Interpreter(model_content=calibrated, runtime="tensorflow", experimental_preserve_all_tensors=True)
    runner = interpreter.get_signature_runner()
    keys = list(runner.get_input_details())
    names = keys if len(keys) == 1 else signature.tensor_names(model)
    low, high = {}, {}
    for sample in samples():
        runner(**dict(zip(names, sample)))
        for index in ranged:
            values = interpreter.get_tensor(index)
            low[index] = min(low.get(index, np.inf), float(values.min()))
            high[index] = max(high.get(index, -np.inf), float(values.max()))
    return {index: (low[index], high[index]) for index in ranged}
