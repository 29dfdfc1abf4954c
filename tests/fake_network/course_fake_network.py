"""A fake internet for the labs' online paths: only what crosses the network is replaced.

Activated by `sitecustomize.py` in this folder when `COURSE_LIB_FAKE_NETWORK=1` and this
folder is on `PYTHONPATH`, so the Jupyter kernels that run the labs get it too. The real
libraries (tensorflow_datasets, Keras, KerasHub, course_lib) run unchanged; the fake
answers where they would download:

- tensorflow_datasets: every `tfds.load` runs inside `tfds.testing.mock_data`, which
  generates examples from the real builder's feature spec (key names, dtypes, class
  names); `COURSE_LIB_FAKE_TFDS_EXAMPLES` examples per split (default 100).
- Keras downloads (`keras.utils.get_file`, used by `keras.applications` and
  `keras.datasets`): the HTTP fetch (`file_utils.urlretrieve`) writes, for an application's
  weights, a legacy .h5 file with the random initial weights of the very model being
  built (same architecture, same layer order); for the Fashion-MNIST files, small IDX
  files of random images. The file's checksum is accepted for these fabricated files only.
- KerasHub presets (`kagglehub.model_download`, what `from_preset` calls for a
  `kaggle://` handle): the preset is built from the model's published configuration with
  random weights and saved with `save_to_preset` into the kagglehub cache
  (`KAGGLEHUB_CACHE`), where the real download would land.

Anything else that tries to open a connection to another host fails with
ConnectionRefusedError, so no test downloads for real.

Imports are lazy: nothing heavy is imported until the library itself is.
"""

import gzip
import importlib.abc
import importlib.util
import os
import socket
import sys
from pathlib import Path

ENV = "COURSE_LIB_FAKE_NETWORK"
TFDS_EXAMPLES_ENV = "COURSE_LIB_FAKE_TFDS_EXAMPLES"
LOG_ENV = "COURSE_LIB_FAKE_NETWORK_LOG"  # a file: one line per faked download (for the tests)
FASHION_SIZES = {"train": 1200, "t10k": 300}  # images in the fake Fashion-MNIST files

_fabricated = set()  # files written by the fake downloads (their checksums are accepted)
_tfds_mock = None


def _log(line):
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


# --------------------------------------------------------------------------- import hooks

class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `patch(module)` right after one of the watched top-level modules is imported."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        if name not in self.patches:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader, patch = spec.loader, self.patches[name]

        class Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                module.__loader__ = module.__spec__.loader = loader  # the real one again
                loader.exec_module(module)
                patch(module)

        spec.loader = Loader()
        return spec


def install():
    """Installs the fake network in this process (idempotent)."""
    if getattr(install, "done", False):
        return
    install.done = True
    _refuse_other_hosts()
    patches = {"tensorflow_datasets": _fake_tfds, "keras": _fake_keras_downloads,
               "kagglehub": _fake_kagglehub}
    for name, patch in patches.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, _AfterImport({n: p for n, p in patches.items() if n not in sys.modules}))


def _refuse_other_hosts():
    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
            raise ConnectionRefusedError(f"fake network ({ENV}=1): no connection to {host}")
        return real_connect(self, address)

    socket.socket.connect = connect


# --------------------------------------------------------------------------- tfds

def _fake_tfds(tfds):
    """Every tfds.load from now on serves examples generated from the real feature specs."""
    global _tfds_mock
    from tensorflow_datasets.testing import mocking
    num_examples = int(os.environ.get(TFDS_EXAMPLES_ENV, "100"))
    _valid_fake_boxes(mocking)
    _tfds_mock = mocking.mock_data(num_examples=num_examples)
    _tfds_mock.__enter__()
    builder_class = mocking.dataset_builder.DatasetBuilder
    mocked_as_dataset = builder_class.as_dataset

    def as_dataset(self, *args, **kwargs):
        _log(f"tfds {self.name}")
        return mocked_as_dataset(self, *args, **kwargs)

    builder_class.as_dataset = as_dataset


def _valid_fake_boxes(mocking):
    """tfds' fake generator draws boxes with min > max, which the BBox feature's encoder rejects
    (e.g. oxford_iiit_pet's head_bbox when the images stay encoded): sort each box's corners."""
    import numpy as np
    from tensorflow_datasets.core import features as features_lib
    generate = mocking.RandomFakeGenerator._generate_random_obj

    def generate_valid(self, feature, tensor_info, rng):
        value = generate(self, feature, tensor_info, rng)
        if isinstance(feature, features_lib.BBoxFeature):
            ys, xs = np.sort(value[..., 0::2], axis=-1), np.sort(value[..., 1::2], axis=-1)
            value = np.stack([ys[..., 0], xs[..., 0], ys[..., 1], xs[..., 1]], axis=-1)
            value = value.astype(tensor_info.np_dtype)
        return value

    mocking.RandomFakeGenerator._generate_random_obj = generate_valid


# --------------------------------------------------------------------------- Keras

def _fake_keras_downloads(keras):
    from keras.src.utils import file_utils
    real_validate = file_utils.validate_file

    def urlretrieve(url, filename, reporthook=None, data=None):
        name = url.rsplit("/", 1)[-1]
        if "/keras-applications/" in url:
            _write_application_weights(filename)
        elif "/tf-keras-datasets/" in url and name.endswith("-ubyte.gz"):
            _write_fashion_mnist_file(name, filename)
        else:
            raise ConnectionRefusedError(f"fake network ({ENV}=1) has no file at {url}")
        _fabricated.add(os.path.abspath(filename))
        _log(f"keras {name}")

    def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
        if os.path.abspath(fpath) in _fabricated:
            return True
        return real_validate(fpath, file_hash, algorithm=algorithm, chunk_size=chunk_size)

    file_utils.urlretrieve = urlretrieve
    file_utils.validate_file = validate_file


def _model_being_built():
    """The keras.applications model whose weights are being fetched (a local of its builder)."""
    import keras
    frame = sys._getframe()
    while frame is not None:
        model = frame.f_locals.get("model")
        if isinstance(model, keras.Model) and "applications" in frame.f_code.co_filename:
            return model
        frame = frame.f_back
    raise RuntimeError("fake network: a keras-applications weights file was requested outside "
                       "a keras.applications builder; extend tests/fake_network for this case")


def _write_application_weights(filename):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    model = _model_being_built()
    with h5py.File(filename, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def _write_fashion_mnist_file(name, filename):
    import numpy as np
    split = name.split("-")[0]  # "train" or "t10k"
    count = FASHION_SIZES[split]
    rng = np.random.default_rng(0 if split == "train" else 1)
    labels = np.arange(count, dtype=np.uint8) % 10
    if "labels" in name:
        header, body = [0, 0, 8, 1, count], labels.tobytes()
    else:
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        header, body = [0, 0, 8, 3, count, 28, 28], images.tobytes()
    magic = bytes(header[:4]) + b"".join(n.to_bytes(4, "big") for n in header[4:])
    with gzip.open(filename, "wb") as f:
        f.write(magic + body)


# --------------------------------------------------------------------------- KerasHub

def _retinanet_resnet50_fpn_coco():
    """keras-hub's tools/checkpoint_conversion/convert_retinanet_checkpoints.py, without torch:
    ResNet-50 image encoder, FPN P3-P7 (no P5 input), 91 COCO classes, 800x800 inputs with
    ImageNet mean/std; 34,121,239 parameters, as the published preset's metadata says."""
    import keras_hub
    from keras_hub.src.models.retinanet.retinanet_image_converter import RetinaNetImageConverter
    from keras_hub.src.models.retinanet.retinanet_object_detector_preprocessor import (
        RetinaNetObjectDetectorPreprocessor,
    )
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512], stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2], block_type="bottleneck_block",
        use_pre_activation=False, image_shape=(None, None, 3))
    backbone = keras_hub.models.RetinaNetBackbone(image_encoder=encoder, min_level=3, max_level=7,
                                                  use_p5=False)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    converter = RetinaNetImageConverter(
        image_size=(800, 800), pad_to_aspect_ratio=True, crop_to_aspect_ratio=False,
        scale=[1 / 255 / s for s in std], offset=[-m / s for m, s in zip(mean, std)])
    return keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=91, use_prediction_head_norm=False,
        preprocessor=RetinaNetObjectDetectorPreprocessor(image_converter=converter))


PRESETS = {"keras/retinanet/keras/retinanet_resnet50_fpn_coco": _retinanet_resnet50_fpn_coco}


def _fake_kagglehub(kagglehub):
    from kagglehub import config

    def model_download(handle, path=None, *, force_download=False, output_dir=None):
        parts = handle.split("/")
        base = "/".join(parts[:4])
        if base not in PRESETS:
            raise ConnectionRefusedError(f"fake network ({ENV}=1) has no Kaggle model {handle!r}")
        version = parts[4] if len(parts) > 4 else "1"
        folder = Path(output_dir or Path(config.get_cache_folder()) / "models" / base / version)
        if force_download or not (folder / "config.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            PRESETS[base]().save_to_preset(str(folder))
            _log(f"kaggle {base}")
        if path is None:
            return str(folder)
        if not (folder / path).is_file():
            raise ValueError(f"'{path}' is not present in the model files of {handle}")
        return str(folder / path)

    kagglehub.model_download = model_download
