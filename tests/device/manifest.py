"""What tests/device/make_models.py wrote, read on the device: the cases of manifest.json,
their arrays, and the check each output must pass against the Keras outputs."""

import json
import os

import numpy as np
import pytest

MODELS = os.environ.get("KERAS_WHT_DEVICE_MODELS", os.getcwd())


def cases():
    path = os.path.join(MODELS, "manifest.json")
    if not os.path.isfile(path):
        pytest.exit(f"no {path}: run tests/device/make_models.py on the workstation first", returncode=4)
    with open(path) as f:
        return json.load(f)["cases"]


def arrays(case, kind):
    """The case's "inputs" or "expected" arrays, in the model's order."""
    with np.load(os.path.join(MODELS, f"{case['name']}.{kind}.npz")) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def assert_matches(got, expected, check):
    """Each output within the case's check: a largest difference, or a least SQNR in dB."""
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, f"output {k}"
        if "max_abs" in check:
            np.testing.assert_allclose(g, e, atol=check["max_abs"], err_msg=f"output {k}")
        else:
            noise = np.mean(np.square(e.astype(np.float64) - g))
            sqnr = 10 * np.log10(np.mean(np.square(e.astype(np.float64))) / noise) if noise else np.inf
            assert sqnr >= check["min_sqnr_db"], f"output {k}: {sqnr:.1f} dB"
