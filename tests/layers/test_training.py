"""The layers inside the ways Keras users build and train models."""

import numpy as np
import pytest
import tensorflow as tf

from keras_wht._keras import LEGACY, keras
from keras_wht.layers import WHT1D, WHT2D


def _data(rng, n=32):
    x = rng.standard_normal((n, 8, 8, 4)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    return x, y


def _head():
    return [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]


def _fit_and_check(model, x, y, **compile_kwargs):
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **compile_kwargs)
    wht = [layer for layer in model.layers if isinstance(layer, (WHT1D, WHT2D))]
    before = [layer.get_weights() for layer in wht]
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for layer, weights in zip(wht, before):
        # The scale always gets a gradient; a threshold may sit at its bound of zero.
        assert not np.array_equal(weights[0], layer.get_weights()[0]), f"{layer.name} did not train"
    return history


def test_sequential_add(rng):
    model = keras.Sequential([keras.Input((8, 8, 4))])
    model.add(WHT2D(residual=True))
    model.add(WHT1D(units=8))
    for layer in _head():
        model.add(layer)
    _fit_and_check(model, *_data(rng))


def test_functional_with_xla(rng):
    inputs = keras.Input((8, 8, 4))
    # A ReLU after WHT2D: pooled straight away, only its DC coefficient would reach the loss.
    y = keras.layers.ReLU()(WHT2D(block_size=4, strides=2)(inputs))
    y = keras.layers.Concatenate()([y, WHT1D(strides=2)(inputs)])
    for layer in _head():
        y = layer(y)
    model = keras.Model(inputs, y)
    _fit_and_check(model, *_data(rng), jit_compile=True)


def test_subclassed_model(rng):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.wht2d = WHT2D(per_channel=True)
            self.wht1d = WHT1D(order="sequency")
            self.pool, self.dense = _head()

        def call(self, x):
            return self.dense(self.pool(self.wht1d(self.wht2d(x))))

    model = Net()
    x, y = _data(rng)
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert {w.shape for w in model.wht2d.trainable_weights} == {(8, 8, 4)}
    assert model.wht1d.count_params() == 8


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision(mixed_policy, rng):
    compute = "float16" if mixed_policy == "mixed_float16" else "bfloat16"
    x = rng.standard_normal((2, 8, 8, 4)).astype(np.float32)
    for make in (lambda: WHT2D(block_size=4, strides=2), lambda: WHT1D(units=6)):
        layer = make()
        y = layer(x)
        assert y.dtype == compute
        assert all(w.dtype == "float32" for w in layer.weights)
        keras.mixed_precision.set_global_policy("float32")
        exact = make()
        exact.build(x.shape)
        exact.set_weights(layer.get_weights())
        keras.mixed_precision.set_global_policy(mixed_policy)
        np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), exact(x).numpy(), atol=0.1, rtol=0.05)


def test_mixed_precision_training(mixed_policy, rng):
    model = keras.Sequential([keras.Input((8, 8, 4)), WHT2D(), WHT1D(), *_head(),
                              keras.layers.Activation("linear", dtype="float32")])
    _fit_and_check(model, *_data(rng))


def test_mirrored_strategy_on_two_devices(rng):
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) == 2
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = keras.Sequential([keras.Input((8, 8, 4)), WHT2D(block_size=4), WHT1D(units=8), *_head()])
        model.compile(optimizer=keras.optimizers.Adam(0.05),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    wht2d = model.layers[0]
    before = wht2d.get_weights()
    model.fit(*_data(rng, 64), epochs=2, batch_size=16, verbose=0)
    assert not np.array_equal(before[0], wht2d.get_weights()[0])
    if not LEGACY:
        return
    # tf_keras mirrors each variable onto both devices; the copies must agree.
    for variable in wht2d.trainable_variables:
        copies = [v.numpy() for v in strategy.experimental_local_results(variable)]
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0], copies[1])
