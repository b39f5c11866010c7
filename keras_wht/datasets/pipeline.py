"""The tf.data pipeline that feeds training and evaluation: images brought to the square
input size (resized, or zero-padded around the centre), three channels, batches."""

import numpy as np
import tensorflow as tf

FITS = ("resize", "pad")


def check_fit(fit, image_shape, input_size):
    """ValueError naming `fit` unless images of `image_shape` (height, width, ...) can be
    brought to `input_size` that way: 'pad' only pads, so they may not be larger."""
    if fit not in FITS:
        raise ValueError(f"`fit` must be one of {', '.join(map(repr, FITS))}, got {fit!r}.")
    height, width = image_shape[:2]
    if fit == "pad" and (height > input_size or width > input_size):
        raise ValueError(f"`fit` 'pad' pads images to the input size, and these are {height}x{width}, larger than "
                         f"`input_size` {input_size}: use fit 'resize' or an input size of at least "
                         f"{max(height, width)}")


def pipeline(x, y, *, input_size, batch_size, fit="resize", shuffle=False, augment=False, seed=0):
    """tf.data batches of `x` brought to input_size x input_size x 3 by `fit` ('resize', or
    'pad': zeros around the centred image), optionally with the standard CIFAR augmentation
    (pad by 1/8 of the size and crop back, random horizontal flip)."""
    check_fit(fit, x.shape[1:], input_size)
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    pad = input_size // 8
    top, left = (input_size - x.shape[1]) // 2, (input_size - x.shape[2]) // 2

    def prepare(images, labels):
        if fit == "pad":
            images = tf.image.pad_to_bounding_box(images, top, left, input_size, input_size)
        else:
            images = tf.image.resize(images, (input_size, input_size))
        if images.shape[-1] == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        if augment:
            images = tf.image.pad_to_bounding_box(images, pad, pad, input_size + 2 * pad, input_size + 2 * pad)
            images = tf.map_fn(lambda im: tf.image.random_crop(im, (input_size, input_size, 3), seed=seed), images)
            images = tf.image.random_flip_left_right(images, seed=seed)
        return images, labels

    # Under MultiWorkerMirroredStrategy every worker runs this pipeline and keeps its share of
    # each batch (DATA sharding; the default, AUTO, first tries to shard by input file, which
    # arrays do not have). The same seed on every worker gives the same shuffled order.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = data.batch(batch_size).map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    return batches.with_options(options)


def images(x, *, input_size, fit="resize"):
    """`x` as the model sees it (`pipeline`'s images, without augmentation), one array."""
    batches = pipeline(x, np.zeros(len(x), np.int64), input_size=input_size, batch_size=256, fit=fit)
    return np.concatenate([b.numpy() for b, _ in batches])
