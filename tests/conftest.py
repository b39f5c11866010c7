import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI explores the same examples every run, so a red run reproduces; locally they vary.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Two logical CPUs, so tf.distribute.MirroredStrategy has two replicas; this must run
# before TensorFlow initialises its devices.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seeded_initializers():
    # Keras draws unseeded initial weights at random: seed them, so a test sees the same
    # model on every run and a red run reproduces.
    from keras_wht._keras import keras

    keras.utils.set_random_seed(1234)
