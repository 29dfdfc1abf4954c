"""Tests for course_lib.models.video: the fusion builders, Conv3D sizes, timing and the table."""

import doctest

import numpy as np
import pytest

from course_lib.data.video import frame_differences, stack_frames_as_channels
from course_lib.models import video as video_models
from course_lib.models.video import (VIDEO_MODELS, FrameDifferences, SelectFrames, build_conv3d_model,
                                     build_early_fusion_model, build_late_fusion_model, build_slow_fusion_model,
                                     conv3d_output_shape, format_video_table, time_per_clip)

import keras

INPUT_SHAPE = (8, 32, 32, 1)


def test_conv3d_output_shape_matches_keras():
    rng = np.random.default_rng(0)
    cases = [((8, 32, 32, 1), 16, 3, 1, "valid"), ((8, 32, 32, 1), 16, (4, 3, 3), (2, 1, 1), "valid"),
             ((8, 32, 32, 3), 5, (2, 5, 5), (2, 2, 2), "same"), ((7, 15, 9, 2), 4, (3, 4, 2), (2, 3, 1), "valid"),
             ((16, 112, 112, 3), 64, 3, 1, "same")]
    for input_shape, filters, kernel_size, strides, padding in cases:
        layer = keras.layers.Conv3D(filters, kernel_size, strides=strides, padding=padding)
        expected = layer.compute_output_shape((None, *input_shape))[1:]
        assert conv3d_output_shape(input_shape, filters, kernel_size, strides, padding) == tuple(expected)
        if np.prod(input_shape) < 5000:
            output = layer(rng.normal(size=(1, *input_shape)).astype("float32"))
            assert tuple(output.shape[1:]) == tuple(expected)


def test_conv3d_output_shape_errors():
    with pytest.raises(ValueError, match=r"kernel_size should be a positive int or 3 positive ints \(time, height, width\), "
                                         r"e.g. kernel_size=\(3, 3, 3\). "
                                         r"Received: kernel_size=\(3, 3\)"):
        conv3d_output_shape((8, 32, 32, 1), 16, kernel_size=(3, 3))
    with pytest.raises(ValueError, match=r"strides should be a positive int or 3.*Received: strides=0"):
        conv3d_output_shape((8, 32, 32, 1), 16, 3, strides=0)
    with pytest.raises(ValueError, match=r"input_shape should be \(time, height, width, channels\) of positive "
                                         r"ints, e.g. input_shape=\(8, 32, 32, 1\)"):
        conv3d_output_shape((32, 32, 1), 16, 3)
    with pytest.raises(ValueError, match=r"padding should be one of \['valid', 'same'\]"):
        conv3d_output_shape((8, 32, 32, 1), 16, 3, padding="full")
    with pytest.raises(ValueError, match="filters should be a positive int"):
        conv3d_output_shape((8, 32, 32, 1), 0, 3)
    assert conv3d_output_shape((8, 32, 32, 1), np.int64(4), np.int64(3)) == (6, 30, 30, 4)   # NumPy ints pass
    with pytest.raises(ValueError, match="kernel"):
        conv3d_output_shape((2, 32, 32, 1), 16, 3)      # a 3-frame kernel on 2 frames, "valid"


@pytest.mark.parametrize("name", list(VIDEO_MODELS))
def test_every_builder_gives_class_probabilities(name):
    model = VIDEO_MODELS[name](input_shape=INPUT_SHAPE, num_classes=4)
    clips = np.random.default_rng(1).integers(0, 256, size=(3, *INPUT_SHAPE)).astype("uint8")
    probabilities = np.asarray(model(clips))
    assert probabilities.shape == (3, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    other = VIDEO_MODELS[name](input_shape=(6, 24, 24, 3), num_classes=5)
    assert other.output_shape == (None, 5)


def test_parameter_counts():
    # Early fusion's first conv: 3*3*(8 frames * 1 channel)*16 + 16 = 1,168; a single frame's: 160.
    early = build_early_fusion_model(INPUT_SHAPE, 4)
    tower = early.get_layer("frame_tower")
    assert tower.get_layer("conv1").count_params() == 3 * 3 * 8 * 16 + 16
    # Conv3D: 3*3*3*1*16 + 16 = 448, 3*3*3*16*32 + 32 = 13,856, dense 32*4 + 4 = 132.
    assert build_conv3d_model(INPUT_SHAPE, 4).count_params() == 448 + 13856 + 132
    # Late fusion shares one tower between the two frames: its convolutions are counted once.
    late = build_late_fusion_model(INPUT_SHAPE, 4)
    shared = late.get_layer("shared_tower").count_params()
    assert shared == (3 * 3 * 1 * 16 + 16) + (3 * 3 * 16 * 32 + 32)
    assert late.count_params() == shared + (2 * 8 * 8 * 32 * 64 + 64) + (64 * 4 + 4)
    slow = build_slow_fusion_model(INPUT_SHAPE, 4)
    assert slow.get_layer("conv1").count_params() == 4 * 3 * 3 * 1 * 16 + 16
    assert slow.get_layer("conv2").output.shape[1] == 2     # time 8 -> 4 -> 2


def test_selection_and_difference_layers_match_numpy():
    clips = np.random.default_rng(2).normal(size=(2, 5, 4, 4, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(FrameDifferences()(clips)), frame_differences(clips), rtol=1e-6)
    picked = np.asarray(SelectFrames([0, 4])(clips))
    np.testing.assert_array_equal(picked, clips[:, [0, 4]])
    # The early-fusion model's reshape puts channel t of the stacked input at frame t.
    early = build_early_fusion_model((5, 4, 4, 1), 4)
    stacker = keras.Model(early.input, early.get_layer("early_as_channels").output)
    np.testing.assert_allclose(np.asarray(stacker(clips)), stack_frames_as_channels(clips) / 255, rtol=1e-6)
    assert SelectFrames.from_config(SelectFrames([1, 2]).get_config()).indices == [1, 2]


def test_builder_errors():
    with pytest.raises(ValueError, match=r"at least 2 frames.*Received: input_shape=\(1, 32, 32, 1\)"):
        build_early_fusion_model((1, 32, 32, 1), 4)
    with pytest.raises(ValueError, match=r"num_classes should be an int >= 2 \(e.g. num_classes=4\). "
                                         r"Received: num_classes=1"):
        build_conv3d_model(INPUT_SHAPE, 1)
    with pytest.raises(ValueError, match=r"input_shape should be \(time, height, width, channels\).*"
                                         r"Received: input_shape=\(8, 32, 32\)"):
        build_slow_fusion_model((8, 32, 32), 4)
    assert build_conv3d_model(INPUT_SHAPE, np.int64(3)).output_shape == (None, 3)   # NumPy ints pass
    for builder in VIDEO_MODELS.values():
        with pytest.raises(ValueError, match=r"filters should be a non-empty tuple of positive ints, e.g. "
                                             r"filters=\(16, 32\). Received: filters=16"):
            builder(INPUT_SHAPE, 4, filters=16)
    with pytest.raises(ValueError, match=r"dense_units should be a non-negative int.*Received: dense_units=-1"):
        build_early_fusion_model(INPUT_SHAPE, 4, dense_units=-1)


def test_format_video_table_one_row_per_model():
    results = {"Conv3D": {"accuracy": 0.9912, "parameters": 14436, "ms per clip": 8.77},
               "single frame": {"accuracy": 0.245, "parameters": 137284, "ms per clip": 0.5}}
    lines = format_video_table(results, chance=0.25).splitlines()
    assert lines[0].split() == ["model", "test", "accuracy", "parameters", "ms", "per", "clip"]
    assert lines[1].split() == ["Conv3D", "0.991", "14,436", "8.770"]
    assert lines[2].split() == ["single", "frame", "0.245", "137,284", "0.500"]
    assert lines[3] == "(chance: 0.250)" and len(format_video_table(results).splitlines()) == 3


def test_time_per_clip_errors():
    model = build_conv3d_model((4, 16, 16, 1), 4)
    assert time_per_clip(model, np.zeros((8, 4, 16, 16, 1), "uint8"), batch_size=4, repeats=1) > 0
    with pytest.raises(ValueError, match="non-empty array"):
        time_per_clip(model, np.zeros((0, 4, 16, 16, 1)))
    with pytest.raises(ValueError, match=r"repeats should be a positive int \(e.g. repeats=3\)"):
        time_per_clip(model, np.zeros((2, 4, 16, 16, 1)), repeats=0)


def test_doctests():
    assert doctest.testmod(video_models, raise_on_error=False).failed == 0
