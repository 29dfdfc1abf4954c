"""Tests for course_lib.models.segmentation: FCN and U-Net builders, training and scoring helpers."""

import doctest
import time

import keras
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from course_lib.data.scenes import make_fashion_scenes  # noqa: E402
from course_lib.models.segmentation import (build_fcn, build_unet, cosine_decay_by_epoch,  # noqa: E402
                                            dense_as_convolution, format_scores_table, predict_masks,
                                            segmentation_scores)
from course_lib.scratch.transposed_conv import bilinear_upsampling_kernel  # noqa: E402


# --------------------------------------------------------------------------- builders

def conv_params(cin, cout, k=3, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def unet_params(channels, num_classes, base, depth, skips, batch_norm):
    def block(cin, f):
        total = conv_params(cin, f, bias=not batch_norm) + conv_params(f, f, bias=not batch_norm)
        return total + (2 * 4 * f if batch_norm else 0)   # gamma, beta, moving mean, moving variance
    total, cin = 0, channels
    for level in range(depth):
        total += block(cin, base * 2 ** level)
        cin = base * 2 ** level
    total += block(cin, base * 2 ** depth)
    cin = base * 2 ** depth
    for level in reversed(range(depth)):
        f = base * 2 ** level
        total += conv_params(cin, f, k=2)                  # Conv2DTranspose 2x2, stride 2
        total += block(2 * f if skips else f, f)
        cin = f
    return total + conv_params(cin, num_classes, k=1)


def test_fcn_shapes_and_hand_counted_params():
    fcn = build_fcn((64, 64, 1), num_classes=5)
    assert fcn.output_shape == (None, 64, 64, 5)
    assert fcn.get_layer("score").output.shape[1:] == (8, 8, 5)          # 8x coarser than the input
    assert fcn.get_layer("fc_conv").count_params() == 64 * 128 + 128     # a dense layer at each position
    assert fcn.get_layer("upsample").count_params() == 16 * 16 * 5 * 5
    assert fcn.count_params() == 87_157
    assert build_fcn((64, 64, 1), num_classes=5, upsampling="bilinear").count_params() == 87_157 - 6_400
    probabilities = np.asarray(fcn(np.zeros((2, 64, 64, 1), "uint8")))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    rgb = build_fcn((32, 48, 3), num_classes=3, filters=(8, 16))
    assert rgb.output_shape == (None, 32, 48, 3)


def test_fcn_upsampling_starts_as_bilinear_interpolation():
    fcn = build_fcn((64, 64, 1), num_classes=5)
    np.testing.assert_allclose(fcn.get_layer("upsample").get_weights()[0], bilinear_upsampling_kernel(8, 5))


@pytest.mark.parametrize("kwargs", [
    dict(), dict(skips=False), dict(batch_norm=False), dict(base_filters=8, depth=2),
    dict(input_shape=(32, 32, 3), num_classes=3, depth=4, skips=False),
])
def test_unet_shapes_and_hand_counted_params(kwargs):
    args = dict(input_shape=(64, 64, 1), num_classes=5, base_filters=16, depth=3, skips=True, batch_norm=True)
    args.update(kwargs)
    model = build_unet(**args)
    height, width, channels = args["input_shape"]
    assert model.output_shape == (None, height, width, args["num_classes"])
    assert model.count_params() == unet_params(channels, args["num_classes"], args["base_filters"],
                                               args["depth"], args["skips"], args["batch_norm"])
    concats = [layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)]
    assert len(concats) == (args["depth"] if args["skips"] else 0)
    assert model.name == ("unet" if args["skips"] else "encoder_decoder")


def test_unet_default_counts_and_skip_shapes():
    unet = build_unet()
    assert unet.count_params() == 483_925
    assert build_unet(skips=False).count_params() == 435_541
    assert unet.get_layer("dec3_concat").output.shape[1:] == (16, 16, 128)   # 64 upsampled + 64 from enc3
    assert unet.get_layer("bottleneck_conv2").output.shape[1:] == (8, 8, 128)


@pytest.mark.parametrize("build, kwargs, match", [
    (build_unet, dict(input_shape=(60, 64, 1)),
     r"depth=3 halves the image 3 times.*multiples of 2\*\*3 = 8.*to 64x64.*Received: input_shape=\(60, 64, 1\)"),
    (build_unet, dict(input_shape=(64, 64, 1), depth=7), r"multiples of 2\*\*7 = 128.*Received.*depth=7"),
    (build_unet, dict(input_shape=(64, 64)), r"input_shape should be \(height, width, channels\)"),
    (build_unet, dict(num_classes=1), r"num_classes should be an int >= 2.*Received: num_classes=1"),
    (build_unet, dict(num_classes=True), r"num_classes should be an int >= 2 \(e.g. num_classes=5\). Received: num_classes=True"),
    (build_fcn, dict(filters=(16, 0)), r"filters should be a non-empty tuple of positive ints.*Received: filters=\(16, 0\)"),
    (build_unet, dict(base_filters=0), r"base_filters should be a positive int.*Received: base_filters=0"),
    (build_unet, dict(depth=0), r"depth should be a positive int.*Received: depth=0"),
    (build_fcn, dict(input_shape=(28, 28, 1)), r"An FCN with 3 blocks.*multiples of 2\*\*3 = 8.*32x32"),
    (build_fcn, dict(filters=16), r"filters should be a non-empty tuple of positive ints"),
    (build_fcn, dict(upsampling="nearest"), r"upsampling should be one of \['transposed', 'bilinear'\]. Received: upsampling='nearest'"),
])
def test_builder_errors(build, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


# --------------------------------------------------------------------------- training and evaluation

def test_scores_of_an_all_background_predictor():
    masks = make_fashion_scenes(50, seed=5).masks
    names = ["background", "a", "b", "c", "d"]
    scores = segmentation_scores(masks, np.zeros_like(masks), names)
    background = (masks == 0).mean()
    assert scores["pixel_accuracy"] == pytest.approx(background)            # about 0.8: flattering
    assert scores["per_class_iou"]["background"] == pytest.approx(background)
    assert scores["per_class_iou"]["a"] == 0.0
    assert scores["mean_iou"] == pytest.approx(background / 5)              # about 0.16: the truth
    table = format_scores_table({"all background": scores})
    assert table.splitlines()[0] == "| model | pixel acc. | mIoU | IoU background | IoU a | IoU b | IoU c | IoU d |"
    assert f"| all background | {background:.3f} | {background / 5:.3f} |" in table
    with pytest.raises(ValueError, match="results is empty"):
        format_scores_table({})


def test_doctests():
    from course_lib.models import segmentation
    result = doctest.testmod(segmentation, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


def compile_for_segmentation(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.MeanIoU(int(model.output_shape[-1]), sparse_y_pred=False,
                                                             name="mean_iou")])
    return model


@pytest.mark.parametrize("learning_rate, epochs", [(3e-3, 12), (2e-3, 8), (1e-3, 15), (0.1, 1)])
def test_cosine_decay_by_epoch_gives_the_numbers_of_the_rate_the_optimizer_holds(learning_rate, epochs):
    # Lab 05's numbers were measured with a schedule that read the compiled (float32) rate back from
    # the optimizer; starting from the Python float instead would change some epochs' rates by one ulp.
    optimizer = keras.optimizers.Adam(learning_rate)
    held = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    schedule = cosine_decay_by_epoch(learning_rate, epochs)
    for epoch in range(epochs):
        assert schedule(epoch, None) == held * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * epoch / epochs)))
    assert schedule(0, None) == held


@pytest.mark.parametrize("args, match", [
    ((0.0, 5), r"initial_learning_rate should be a positive number, e.g. initial_learning_rate=0.001. "
                  r"Received: initial_learning_rate=0.0"),
    (("1e-3", 5), r"Received: initial_learning_rate='1e-3'"),
    ((1e-3, 0), r"epochs should be a positive int \(e.g. epochs=10\). Received: epochs=0"),
])
def test_cosine_decay_by_epoch_errors(args, match):
    with pytest.raises(ValueError, match=match):
        cosine_decay_by_epoch(*args)


def test_unet_overfits_a_handful_of_scenes():
    # 8 small scenes, each seen 25 times per epoch: 150 steps of 8 images, about 15 s on 2 CPU cores
    keras.utils.set_random_seed(0)
    scenes = make_fashion_scenes(8, image_size=(40, 40), seed=0)
    images, masks = np.tile(scenes.images, (25, 1, 1, 1)), np.tile(scenes.masks, (25, 1, 1))
    model = compile_for_segmentation(build_unet((40, 40, 1), num_classes=5, base_filters=16, depth=2), 1e-2)
    schedule = keras.callbacks.LearningRateScheduler(cosine_decay_by_epoch(1e-2, epochs=6))
    start = time.perf_counter()
    history = model.fit(images, masks, epochs=6, batch_size=8, callbacks=[schedule], verbose=0)
    assert time.perf_counter() - start < 60
    predicted = predict_masks(model, scenes.images)
    assert predicted.shape == (8, 40, 40) and predicted.dtype == np.uint8
    scores = segmentation_scores(scenes.masks, predicted, scenes.class_names)
    assert scores["mean_iou"] > 0.9, (scores, history.history["loss"][-1])
    rates = history.history["learning_rate"]
    assert rates[0] == pytest.approx(1e-2) and rates[-1] < 0.2 * rates[0]        # cosine decay


def test_fcn_skip_fusion_builds_fcn_16s_and_8s_and_starts_as_the_coarse_net():
    fcn8 = build_fcn((64, 64, 1), num_classes=5, skip_levels=2)
    names = [layer.name for layer in fcn8.layers]
    assert {"fuse1_up", "score_pool2", "fuse1", "fuse2_up", "score_pool1", "fuse2"} <= set(names)
    assert fcn8.get_layer("fuse2").output.shape == (None, 32, 32, 5)       # stride 2 before the last x2
    assert fcn8.get_layer("upsample").kernel.shape == (4, 4, 5, 5)
    # 87,157 - the x8 upsampling (16 * 16 * 25) + two x2 (4 * 4 * 25 each) + two 1x1 scores (32 * 5 + 5, 16 * 5 + 5)
    assert fcn8.count_params() == 87157 - 6400 + 2 * 400 + 400 + 165 + 85
    assert build_fcn((64, 64, 1), num_classes=5, skip_levels=1).output_shape == (None, 64, 64, 5)
    # zero-initialised skip scores: at the start, each fusion passes the upsampled coarse scores unchanged
    probe = keras.Model(fcn8.input, [fcn8.get_layer("fuse1_up").output, fcn8.get_layer("fuse1").output])
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 1)).astype("float32")
    upsampled, fused = probe.predict(x, verbose=0)
    np.testing.assert_array_equal(upsampled, fused)
    for bad in (3, -1, True):
        with pytest.raises(ValueError, match=rf"skip_levels should be an int from 0 to len\(filters\) - 1 = 2.*Received: skip_levels={bad}"):
            build_fcn((64, 64, 1), skip_levels=bad)


def test_dense_as_convolution_is_the_same_dense_layer_and_slides_on_larger_maps():
    dense = keras.layers.Dense(10, activation="relu")
    dense.build((None, 4 * 4 * 6))
    conv = dense_as_convolution(dense, (4, 4, 6))
    assert conv.kernel.shape == (4, 4, 6, 10)            # covers the whole map, not 1x1
    x = np.random.default_rng(1).normal(size=(3, 4, 4, 6)).astype("float32")
    np.testing.assert_allclose(np.asarray(conv(x))[:, 0, 0], np.asarray(dense(x.reshape(3, -1))), atol=1e-5)
    assert conv(np.zeros((1, 9, 7, 6), "float32")).shape == (1, 6, 4, 10)   # a grid of outputs
    with pytest.raises(ValueError, match=r"takes 96 inputs, but a flattened \(4, 4, 5\) map has 80"):
        dense_as_convolution(dense, (4, 4, 5))
