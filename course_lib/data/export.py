"""Write a folder-per-class dataset from arrays: `export_image_folder`.

    data/fashion/
      Sneaker/Sneaker_00012.png, ...
      Sandal/...

Each file name keeps the image's index in the arrays, so a file can be traced
back. `course_lib.data.tfds.export_tfds_folder` writes the same layout from a
TensorFlow Datasets dataset (online).
"""

import collections
import os
import re
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from course_lib._validation import resolve_classes
from course_lib.data.decode import num_workers
from course_lib.data.folders import _short_list

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def safe_folder_name(name):
    """Makes a class name usable as a folder name: 'T-shirt/top' -> 'T-shirt_top'."""
    text = _UNSAFE.sub("_", str(name)).strip().strip(".").strip()
    return text or "class"


def _tqdm():
    with warnings.catch_warnings():
        # Without ipywidgets, tqdm.auto warns and falls back to a text bar: the bar is enough.
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    return tqdm


def _check_export_target(directory, folders, overwrite):
    path = Path(directory).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} is a file; expected a folder to write the class "
                         f"folders into. Received: directory={directory!r}")
    if path.exists() and not overwrite:
        existing = sorted(e for e in os.listdir(path))
        if existing:
            raise FileExistsError(
                f"The folder {str(path)!r} is not empty (it holds {_short_list(existing, 5)}). "
                f"Pass overwrite=True to replace the class folders being written "
                f"({_short_list(folders, 5)}; nothing else is touched), or choose a new folder. "
                f"Received: directory={directory!r}, overwrite=False")
    path.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        target = path / folder
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
    return path


def _check_per_class(per_class):
    if per_class is not None and (not isinstance(per_class, (int, np.integer))
                                  or isinstance(per_class, bool) or per_class < 1):
        raise ValueError(f"per_class should be a positive int (images per class) or None for all "
                         f"images. Received: per_class={per_class!r}")


def _folder_names(class_names, chosen):
    folders = [safe_folder_name(class_names[i]) for i in chosen]
    duplicates = [f for f, n in collections.Counter(folders).items() if n > 1]
    if duplicates:
        raise ValueError(f"Different classes map to the same folder name {duplicates}; "
                         f"rename them in class_names. Received: class_names={list(class_names)!r}")
    return folders


def export_image_folder(images, labels, directory, class_names, classes=None, per_class=None,
                        overwrite=False, seed=1337):
    """Writes images from arrays as a folder-per-class dataset of PNG files.

    Writes `directory/<class name>/<class name>_<index>.png`, where `index` is
    the image's position in `images` (so a file can be traced back). Class
    names unsafe as folder names are made safe ('T-shirt/top' -> 'T-shirt_top').

    Args:
        images: uint8 array of shape (N, height, width), (N, height, width, 1)
            or (N, height, width, 3).
        labels: int array of shape (N,), class indices into `class_names`.
        directory: the folder to write into (created if needed).
        class_names: the name of every class index, e.g. `FASHION_MNIST_CLASSES`.
        classes: names (or indices) of the classes to write; None for all.
        per_class: how many images per class (a seeded random sample); None for all.
        overwrite: False refuses a non-empty `directory`; True replaces only the
            class folders being written and never deletes anything else.
        seed: int, picks the sample.

    Returns:
        The `Path` of `directory`.

    Raises:
        ValueError: bad arrays, unknown classes, bad `per_class`.
        FileExistsError: `directory` is not empty and `overwrite` is False.

    Example:

    >>> (x, y), _ = load_fashion_mnist(subset="small")
    >>> export_image_folder(x, y, "data/fashion", FASHION_MNIST_CLASSES,
    ...                     classes=["Sneaker", "Sandal", "Ankle boot"], per_class=100)
    Wrote 300 images in 3 classes to data/fashion: 'Sneaker' 100, 'Sandal' 100, 'Ankle boot' 100
    """
    if hasattr(images, "numpy"):
        images = images.numpy()
    images = np.asarray(images)
    if hasattr(labels, "numpy"):
        labels = labels.numpy()
    labels = np.asarray(labels)
    if images.dtype != np.uint8:
        raise ValueError(
            f"images should be uint8 with values in 0..255. Received dtype {images.dtype}; "
            f"if your values are floats in [0, 1], pass (images * 255).round().astype('uint8').")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(
            f"images should have shape (N, height, width), (N, height, width, 1) or "
            f"(N, height, width, 3). Received shape {images.shape}.")
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise ValueError(
            f"labels look one-hot encoded (shape {labels.shape}); pass class indices of shape "
            f"(N,), e.g. labels.argmax(axis=1).")
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"labels should have shape ({len(images)},), one class index per image. "
            f"Received shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels should be integer class indices. Received dtype {labels.dtype}.")
    class_names = list(class_names)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(
            f"labels go from {labels.min()} to {labels.max()} but class_names has "
            f"{len(class_names)} names; pass one name per class index.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed should be an int, e.g. seed=1337. Received: seed={seed!r}")
    _check_per_class(per_class)
    chosen = resolve_classes(classes, class_names)
    folders = _folder_names(class_names, chosen)

    plan = []  # (class index, folder, sorted image indices)
    short = []
    for c, folder in zip(chosen, folders):
        members = np.flatnonzero(labels == c)
        if per_class is not None and per_class < len(members):
            rng = np.random.default_rng([int(seed) % 2 ** 32, int(c)])
            members = np.sort(rng.choice(members, size=int(per_class), replace=False))
        elif per_class is not None and per_class > len(members):
            short.append(f"{class_names[c]!r} has only {len(members)}")
        plan.append((c, folder, members))
    if short:
        warnings.warn(f"Fewer images than per_class={per_class}: {', '.join(short)}; "
                      f"writing all of them.", UserWarning, stacklevel=2)

    path = _check_export_target(directory, folders, overwrite)
    from PIL import Image
    width = len(str(max(len(images) - 1, 0)))
    total = sum(len(m) for _, _, m in plan)
    tqdm = _tqdm()

    def write(job):
        folder_path, prefix, i = job
        Image.fromarray(images[i]).save(folder_path / f"{prefix}_{i:0{width}d}.png",
                                        compress_level=1)

    jobs = []
    for _, folder, members in plan:
        (path / folder).mkdir()
        jobs.extend((path / folder, folder, int(i)) for i in members)
    with tqdm(total=total, desc=f"Writing {path.name}", unit="img", leave=False,
              disable=total < 500) as bar, ThreadPoolExecutor(num_workers()) as pool:
        for _ in pool.map(write, jobs):
            bar.update(1)
    written = ", ".join(f"{class_names[c]!r} {len(m):,}" for c, _, m in plan)
    print(f"Wrote {total:,} images in {len(plan)} classes to {path}: {written}")
    return path
