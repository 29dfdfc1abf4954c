"""Tests for course_lib.models.transfer (CPU, with the offline backbone of course_lib.models.course_cnn)."""

import doctest

import keras
import numpy as np
import pytest

from course_lib.models import transfer


@pytest.fixture(scope="module")
def offline_base():
    return transfer.build_backbone("course_cnn", weights="course_offline", input_shape=None)


def _params(weights):
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _images(n=4, seed=0, size=32):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _compile(model, learning_rate=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")


def test_docstring_examples_run():
    result = doctest.testmod(transfer, extraglobs={"images": _images()}, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


# --------------------------------------------------------------------------- backbones

def test_offline_backbone_is_the_shipped_one(offline_base):
    assert offline_base.output_shape == (None, 6, 6, 192)
    assert len(offline_base.layers) == 25
    fresh = transfer.build_backbone("course_cnn", weights=None, input_shape=None)
    assert [w.shape for w in offline_base.weights] == [w.shape for w in fresh.weights]
    assert not np.allclose(offline_base.weights[0].numpy(), fresh.weights[0].numpy())
    assert transfer.preprocessing_for(offline_base) == "course_cnn"


def _refuse_downloads(monkeypatch, tmp_path):
    import urllib.error
    from keras.src.utils import file_utils

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))          # an empty Keras cache
    monkeypatch.setattr(file_utils, "urlretrieve", refuse)


def test_imagenet_download_failure_is_explained(tmp_path, monkeypatch):
    _refuse_downloads(monkeypatch, tmp_path)
    with pytest.raises(RuntimeError, match="ImageNet weights for 'mobilenet_v2' could not be loaded") as error:
        transfer.build_backbone("mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3))
    message = str(error.value)
    assert "no route to host" in message and "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5" in message
    assert "go online" in message and "$KERAS_HOME/models" in message
    assert "build_backbone('course_cnn', weights='course_offline')" in message


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="vgg16"), r"name should be one of \['course_cnn', 'efficientnet_b0'"),
    (dict(weights="imagenet21k"), r"weights should be one of \['imagenet', 'course_offline', None\]"),
    (dict(name="resnet50", weights="course_offline"), "weights='course_offline' goes with name='course_cnn'"),
    (dict(name="course_cnn", weights="imagenet"), "weights='course_offline' goes with name='course_cnn'"),
    (dict(name="course_cnn", weights="course_offline", input_shape=(64, 64, 3)), r"trained on \(48, 48, 3\) images"),
    (dict(weights=None, input_shape=(64, 64)), r"input_shape should be \(height, width, channels\)"),
    (dict(weights=None, input_shape=(64, 64, 1)), "grayscale images need 3 channels"),
    (dict(weights=None, input_shape=(16, 16, 3)), "height and width >= 32"),
])
def test_build_backbone_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        transfer.build_backbone(**kwargs)


def test_random_backbones_build():
    base = transfer.build_backbone("efficientnet_b0", weights=None, input_shape=(32, 32, 3))
    assert base.output_shape == (None, 1, 1, 1280)
    assert transfer.preprocessing_for(base) == "efficientnet_b0"
    course = transfer.build_backbone("course_cnn", weights=None, input_shape=None)
    assert course.output_shape == (None, 6, 6, 192) and course.count_params() == 656_616


# --------------------------------------------------------------------------- preprocessing

def test_preprocessing_matches_applications():
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    for application in ("mobilenet_v2", "course_cnn"):
        np.testing.assert_allclose(transfer.ApplicationPreprocessing(application)(x).numpy(),
                                   [[[[-1.0, 0.0, 1.0]]]], atol=1e-6)
    resnet = transfer.ApplicationPreprocessing("resnet50")(x).numpy()
    # caffe mode: RGB -> BGR, minus the ImageNet mean per channel.
    np.testing.assert_allclose(resnet, [[[[255.0 - 103.939, 127.5 - 116.779, 0.0 - 123.68]]]], atol=1e-3)


def test_preprocessing_errors():
    with pytest.raises(ValueError, match="application should be one of"):
        transfer.ApplicationPreprocessing("inception_v3")
    with pytest.raises(ValueError, match="Cannot tell which preprocessing"):
        transfer.preprocessing_for(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="tiny"))


def test_make_augmentation_keeps_shape_and_errors():
    augment = transfer.make_augmentation()
    x = _images()
    assert augment(x, training=True).numpy().shape == x.shape
    np.testing.assert_allclose(augment(x, training=False).numpy(), x)
    assert [type(layer).__name__ for layer in transfer.make_augmentation(rotation=0, zoom=0).layers] == \
        ["RandomFlip", "RandomTranslation"]
    with pytest.raises(ValueError, match="flip should be one of"):
        transfer.make_augmentation(flip="diagonal")
    with pytest.raises(ValueError, match=r"zoom should be a fraction between 0 and 1 \(e.g. zoom=0.1\)"):
        transfer.make_augmentation(zoom=1.5)


# --------------------------------------------------------------------------- the head and freezing

def test_build_transfer_model_freezes_base(offline_base):
    model = transfer.build_transfer_model(offline_base, num_classes=5)
    assert model.output_shape == (None, 5)
    assert model.input_shape == (None, 48, 48, 3)
    assert [layer.name for layer in model.layers] == [
        "image", "augmentation", "preprocess", "course_cnn", "pool", "head_dropout", "classifier"]
    assert transfer.count_trainable_params(model) == 192 * 5 + 5   # the head only
    assert model.count_params() == offline_base.count_params() + 192 * 5 + 5
    assert transfer.find_base_model(model) is offline_base
    assert model.predict(_images(2, size=48), verbose=0).shape == (2, 5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_classes=1), "num_classes should be an int >= 2"),
    (dict(num_classes=5.0), "num_classes should be an int >= 2"),
    (dict(num_classes=np.int64(5), dropout_rate=1.0), r"dropout_rate should be a fraction between 0 and 1"),
])
def test_head_errors(offline_base, kwargs, match):
    with pytest.raises(ValueError, match=match):
        transfer.build_transfer_model(offline_base, **kwargs)


def test_head_error_for_a_name_instead_of_a_model():
    with pytest.raises(ValueError, match="base_model should be a keras.Model"):
        transfer.build_transfer_model("mobilenet_v2", num_classes=5)


def test_unfreeze_top_layers_counts_and_keeps_batchnorm_frozen(offline_base):
    model = transfer.build_transfer_model(offline_base, num_classes=5)
    before = transfer.count_trainable_params(model)
    names = transfer.unfreeze_top_layers(model, num_layers=np.int64(10))
    top = offline_base.layers[-10:]
    expected = before + sum(_params(layer.weights) for layer in top
                            if not isinstance(layer, keras.layers.BatchNormalization))
    assert transfer.count_trainable_params(model) == expected > before
    assert names == [layer.name for layer in top
                     if layer.trainable_weights and not isinstance(layer, keras.layers.BatchNormalization)]
    assert all(not layer.trainable for layer in offline_base.layers
               if isinstance(layer, keras.layers.BatchNormalization))
    assert all(not layer.trainable for layer in offline_base.layers[:-10])
    transfer.unfreeze_top_layers(model, num_layers=0)
    assert transfer.count_trainable_params(model) == before
    total = len(offline_base.layers)
    for bad in (total + 1, -1, True, 2.0):
        with pytest.raises(ValueError, match=f"num_layers should be an int between 0 and {total}"):
            transfer.unfreeze_top_layers(model, num_layers=bad)
    offline_base.trainable = False


def test_batchnorm_stays_in_inference_mode_during_fine_tuning():
    base = transfer.build_backbone("course_cnn", weights="course_offline", input_shape=None)
    model = transfer.build_transfer_model(base, num_classes=3, augmentation=False, dropout_rate=0.0)
    transfer.unfreeze_top_layers(model, num_layers=len(base.layers))      # all but BatchNorm
    batchnorm = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    conv = base.get_layer("block4_conv2")      # the last convolution
    assert conv.trainable and not batchnorm[-1].trainable
    x = _images(8, size=48)
    # training=True (what fit uses) gives the inference-mode output: frozen BatchNorm uses moving statistics.
    np.testing.assert_allclose(model(x, training=True).numpy(), model(x, training=False).numpy(), atol=1e-5)
    mean_before = batchnorm[-1].moving_mean.numpy().copy()
    kernel_before = conv.kernel.numpy().copy()
    _compile(model)
    model.fit(x, np.arange(8) % 3, epochs=1, verbose=0)
    np.testing.assert_allclose(batchnorm[-1].moving_mean.numpy(), mean_before)   # statistics untouched
    assert not np.allclose(conv.kernel.numpy(), kernel_before)                  # while the conv learnt


def test_unfrozen_batchnorm_switches_to_batch_statistics():
    # The pitfall the lab shows: Keras 3 passes fit's training=True into the nested base, so an
    # unfrozen BatchNorm normalises with batch statistics despite base_model(x, training=False).
    base = transfer.build_backbone("course_cnn", weights=None, input_shape=None)
    model = transfer.build_transfer_model(base, num_classes=3, augmentation=False, dropout_rate=0.0)
    transfer.unfreeze_top_layers(model, num_layers=len(base.layers), keep_batchnorm_frozen=False)
    x = _images(8, size=48)
    assert not np.allclose(model(x, training=True).numpy(), model(x, training=False).numpy(), atol=1e-3)


def test_training_from_scratch_trains_every_layer_batchnorm_included():
    # Lab 03's baseline: the backbone's architecture with random weights, nothing frozen.
    base = transfer.build_backbone("course_cnn", weights=None, input_shape=None)
    model = transfer.build_transfer_model(base, num_classes=5, freeze_base=False)
    assert transfer.count_trainable_params(model) == _params(model.trainable_weights) == \
        sum(_params(layer.trainable_weights) for layer in base.layers) + 192 * 5 + 5
    batchnorm = base.get_layer("block4_bn2")
    assert batchnorm.trainable
    mean_before = batchnorm.moving_mean.numpy().copy()
    _compile(model)
    model.fit(_images(8, size=48), np.arange(8) % 5, epochs=1, verbose=0)
    assert not np.allclose(batchnorm.moving_mean.numpy(), mean_before)          # batch statistics used


def test_linear_probe_and_feature_extractor(offline_base):
    extractor = transfer.make_feature_extractor(offline_base)
    features = extractor.predict(_images(3, size=48), verbose=0)
    assert features.shape == (3, 192)
    probe = transfer.build_linear_probe(192, num_classes=5)
    assert transfer.count_trainable_params(probe) == 192 * 5 + 5
    # The probe's weights fit the transfer model's head, which then gives the probe's predictions.
    model = transfer.build_transfer_model(offline_base, num_classes=5, augmentation=False)
    model.get_layer("classifier").set_weights(probe.get_layer("probe").get_weights())
    np.testing.assert_allclose(model.predict(_images(3, size=48), verbose=0), probe.predict(features, verbose=0),
                               atol=1e-5)
    with pytest.raises(ValueError, match="num_features should be a positive int"):
        transfer.build_linear_probe(0, num_classes=5)


def test_saved_model_reloads_with_its_preprocessing(offline_base, tmp_path):
    model = transfer.build_transfer_model(offline_base, num_classes=5)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.get_layer("preprocess").application == "course_cnn"
    x = _images(3, size=48)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
