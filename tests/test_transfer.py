"""Tests for course_lib.models.transfer and course_lib.models.pretrain (CPU, offline backbone)."""

import json
import shutil
import time

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from course_lib import runtime  # noqa: E402
from course_lib.data.transfer_task import TARGET_CLASSES  # noqa: E402
from course_lib.models import pretrain, transfer  # noqa: E402


@pytest.fixture(scope="module")
def offline_base():
    return transfer.build_backbone("course_cnn", weights="course_offline", input_shape=None)


def _params(weights):
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _tiny_base():
    """A two-block stand-in for a backbone (named like MobileNetV2 for its preprocessing), fast to train."""
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters in (4, 8):
        x = keras.layers.Conv2D(filters, 3, strides=2, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU(6.0)(x)
    return keras.Model(inputs, x, name="mobilenetv2_tiny")


def _images(n=4, seed=0, size=32):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


# --------------------------------------------------------------------------- backbones

def test_offline_backbone_loads_verified_weights(offline_base):
    assert offline_base.output_shape == (None, 6, 6, 192)
    assert offline_base.count_params() == transfer.load_offline_info()["parameters"] == 656_616
    assert len(offline_base.layers) == 25
    # The weights are the shipped ones, not a fresh random initialisation.
    fresh = transfer.build_backbone("course_cnn", weights=None, input_shape=None)
    assert [w.shape for w in offline_base.weights] == [w.shape for w in fresh.weights]
    assert not np.allclose(offline_base.weights[0].numpy(), fresh.weights[0].numpy())
    assert transfer.preprocessing_for(offline_base) == "course_cnn"


def test_offline_backbone_record_documents_recipe():
    from course_lib.data import transfer_task
    info = transfer.load_offline_info()
    for key in ("sha256", "source_test_accuracy", "training_seconds", "recipe", "source_class_ids", "command"):
        assert key in info
    assert set(info["source_class_ids"]).isdisjoint(transfer_task.TARGET_CLASS_IDS)
    assert info["source_test_accuracy"] > 0.6      # 5 classes: chance is 0.2
    assert info["size_bytes"] < 5_000_000


def test_offline_backbone_rejects_corrupt_weights(tmp_path, monkeypatch):
    folder = tmp_path / "backbones"
    folder.mkdir()
    source = runtime.data_path(transfer.OFFLINE_INFO_FILE)
    info = json.loads(source.read_text())
    shutil.copy(source, folder / source.name)
    (folder / info["weights_file"]).write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    monkeypatch.setenv(runtime.DATA_ENV, str(tmp_path))
    with pytest.raises(OSError, match="is corrupt: its SHA-256 is"):
        transfer.build_backbone("course_cnn", weights="course_offline", input_shape=None)


def test_imagenet_offline_fails_at_once_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))          # an empty Keras cache
    monkeypatch.setenv(runtime.OFFLINE_ENV, "1")
    start = time.time()
    with pytest.raises(RuntimeError, match="weights='course_offline'") as error:
        transfer.build_backbone("mobilenet_v2", weights="imagenet", input_shape=(160, 160, 3))
    assert time.time() - start < 5
    message = str(error.value)
    assert "go online" in message
    assert str(tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5") in message


def test_imagenet_download_failure_is_explained(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    def refuse(*args, **kwargs):
        raise OSError("URL fetch failure: no route to host")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(runtime.OFFLINE_ENV, "0")
    monkeypatch.setattr(file_utils, "get_file", refuse)
    with pytest.raises(RuntimeError, match=r"the download failed \(URL fetch failure"):
        transfer.build_backbone("resnet50", weights="imagenet", input_shape=(64, 64, 3))


def test_imagenet_weights_file_names():
    assert transfer.imagenet_weights_file("mobilenet_v2", (224, 224, 3)) == \
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    assert transfer.imagenet_weights_file("mobilenet_v2", (100, 100, 3)).endswith("_1.0_224_no_top.h5")
    assert transfer.imagenet_weights_file("resnet50") == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert transfer.imagenet_weights_file("efficientnet_b0") == "efficientnetb0_notop.h5"


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="vgg16"), "name should be one of"),
    (dict(weights="imagenet21k"), "weights should be 'imagenet', 'course_offline' or None"),
    (dict(name="resnet50", weights="course_offline"), "weights='course_offline' goes with name='course_cnn'"),
    (dict(name="course_cnn", weights="imagenet"), "weights='course_offline' goes with name='course_cnn'"),
    (dict(name="course_cnn", weights="course_offline", input_shape=(64, 64, 3)), r"trained on \(48, 48, 3\) images"),
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


def test_course_cnn_preprocessing_scales_to_minus_one_one():
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    np.testing.assert_allclose(transfer.ApplicationPreprocessing("course_cnn")(x).numpy(),
                               [[[[-1.0, 0.0, 1.0]]]], atol=1e-6)


# --------------------------------------------------------------------------- preprocessing

def test_preprocessing_matches_applications():
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    mobilenet = transfer.ApplicationPreprocessing("mobilenet_v2")(x).numpy()
    np.testing.assert_allclose(mobilenet, [[[[-1.0, 0.0, 1.0]]]], atol=1e-6)
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
    out = augment(x, training=True).numpy()
    assert out.shape == x.shape
    np.testing.assert_allclose(augment(x, training=False).numpy(), x)
    with pytest.raises(ValueError, match="flip should be"):
        transfer.make_augmentation(flip="diagonal")
    with pytest.raises(ValueError, match="zoom should be a fraction"):
        transfer.make_augmentation(zoom=1.5)


# --------------------------------------------------------------------------- heads and freezing

def test_add_classifier_head_shape_and_params(offline_base):
    model = transfer.add_classifier_head(offline_base, num_classes=5)
    assert model.output_shape == (None, 5)
    assert model.count_params() == offline_base.count_params() + 192 * 5 + 5
    assert model.predict(_images(2, size=48), verbose=0).shape == (2, 5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_classes=1), "num_classes should be an int >= 2"),
    (dict(num_classes=5.0), "num_classes should be an int >= 2"),
    (dict(num_classes=5, dropout_rate=1.0), r"dropout_rate should be in \[0, 1\)"),
])
def test_head_errors(offline_base, kwargs, match):
    with pytest.raises(ValueError, match=match):
        transfer.add_classifier_head(offline_base, **kwargs)


def test_build_transfer_model_freezes_base(offline_base):
    model = transfer.build_transfer_model(offline_base, num_classes=5)
    assert model.output_shape == (None, 5)
    assert model.input_shape == (None, 48, 48, 3)
    assert transfer.count_trainable_params(model) == 192 * 5 + 5   # the head only
    assert transfer.find_base_model(model) is offline_base
    with pytest.raises(ValueError, match="base_model should be a keras.Model"):
        transfer.build_transfer_model("mobilenet_v2", num_classes=5)


def test_unfreeze_top_layers_counts_and_keeps_batchnorm_frozen(offline_base):
    model = transfer.build_transfer_model(offline_base, num_classes=5)
    before = transfer.count_trainable_params(model)
    names = transfer.unfreeze_top_layers(model, num_layers=10)
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
    with pytest.raises(ValueError, match=f"num_layers should be an int between 0 and {total}"):
        transfer.unfreeze_top_layers(model, num_layers=total + 1)
    offline_base.trainable = False


def test_batchnorm_stays_in_inference_mode_during_fine_tuning():
    base = transfer.load_offline_backbone()
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
    transfer.compile_classifier(model, 1e-3)
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


def test_linear_probe_and_feature_extractor(offline_base):
    extractor = transfer.make_feature_extractor(offline_base)
    assert extractor.predict(_images(3, size=48), verbose=0).shape == (3, 192)
    probe = transfer.build_linear_probe(192, num_classes=5)
    assert transfer.count_trainable_params(probe) == 192 * 5 + 5


# --------------------------------------------------------------------------- training, saving, predicting

def test_fine_tune_two_phases_and_checkpoints(tmp_path):
    base = _tiny_base()
    model = transfer.build_transfer_model(base, num_classes=2, augmentation=False)
    x, y = _images(8), np.arange(8) % 2
    callbacks = transfer.make_checkpoint_callbacks(tmp_path / "ckpt", monitor="val_loss")
    assert [type(c).__name__ for c in callbacks] == ["BackupAndRestore", "ModelCheckpoint"]
    history_head, history_fine = transfer.fine_tune(
        model, (x, y), validation_data=(x, y), head_epochs=1, fine_tune_epochs=1, num_layers=5,
        batch_size=4, callbacks=callbacks)
    assert len(history_head.history["loss"]) == 1 and len(history_fine.history["loss"]) == 1
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-5)
    assert (tmp_path / "ckpt" / "best.keras").is_file()
    with pytest.raises(ValueError, match="fine-tune rate lower"):
        transfer.fine_tune(model, (x, y), learning_rates=(1e-5, 1e-3))


def test_save_reload_and_predict_image_file(offline_base, tmp_path):
    from PIL import Image
    model = transfer.build_transfer_model(offline_base, num_classes=5)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = transfer.load_transfer_model(path)
    x = _images(3, size=48)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)

    image_path = tmp_path / "sneaker.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (28, 28), dtype=np.uint8)).save(image_path)
    top = transfer.predict_image_file(reloaded, image_path, TARGET_CLASSES, top_k=3)
    assert len(top) == 3 and all(name in TARGET_CLASSES for name, _ in top)
    probabilities = [p for _, p in top]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6

    with pytest.raises(FileNotFoundError, match="No image file at"):
        transfer.predict_image_file(model, tmp_path / "missing.png", TARGET_CLASSES)
    with pytest.raises(ValueError, match=r"one name per model output \(5\), got 2"):
        transfer.predict_image_file(model, image_path, ["a", "b"])
    with pytest.raises(ValueError, match="top_k should be an int between 1 and 5"):
        transfer.predict_image_file(model, image_path, TARGET_CLASSES, top_k=6)
    with pytest.raises(ValueError, match="path should be a .keras file"):
        transfer.load_transfer_model(tmp_path / "model.h5")
    with pytest.raises(FileNotFoundError, match="No model file at"):
        transfer.load_transfer_model(tmp_path / "other.keras")


def test_enable_mixed_precision_on_cpu_keeps_float32():
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("runs on CPU-only machines")
    assert transfer.enable_mixed_precision() == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"


# --------------------------------------------------------------------------- pre-training

def test_pretraining_model_matches_the_shipped_backbone():
    model, base = pretrain.build_pretraining_model()
    assert model.output_shape == (None, 5)
    assert base.count_params() == transfer.load_offline_info()["parameters"]
    assert all(layer.momentum == 0.99 for layer in base.layers
               if isinstance(layer, keras.layers.BatchNormalization))


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs should be an int >= 1"),
    (dict(copies=1.5), "copies should be an int >= 1"),
])
def test_pretrain_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pretrain.pretrain(tmp_path, **kwargs)


def test_pretrain_needs_an_explicit_output_folder(capsys):
    with pytest.raises(SystemExit):
        pretrain.main([])
    assert "--out" in capsys.readouterr().err
