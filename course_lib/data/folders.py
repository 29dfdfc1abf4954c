"""Folder-per-class image datasets: scan them, load them, look at them.

The layout students build, and that `keras.utils.image_dataset_from_directory`
reads:

    flowers/
      daisy/001.jpg, 002.jpg, ...
      roses/a.png, holiday/b.JPG, ...     # nested folders belong to their class
      tulips/...

`load_image_folder()` returns the same kind of `tf.data` datasets as
`image_dataset_from_directory(..., subset="both", label_mode="int")` (float32
images in [0, 255], int32 labels, `class_names`, `file_paths`), so a notebook can
switch between the two. Unlike Keras it survives real student folders: hidden
files and folders, `.ipynb_checkpoints`, non-image files, empty or corrupt
files, CMYK or EXIF-rotated JPEGs, 16-bit or palette PNGs are skipped or
converted instead of crashing in the middle of an epoch, and every skipped file
is listed.

How: one pass decodes every image once with Pillow, in a thread pool, into one
uint8 array (a quarter of the memory of Keras' float32 `.cache()`), which is
also the check that each file is readable. The datasets gather their batches
from that array: no file is read again, epoch after epoch.

Writing such a folder: `course_lib.data.export.export_image_folder` (from
arrays) and `course_lib.data.tfds.export_tfds_folder` (from TensorFlow Datasets).
"""

import collections
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from course_lib._validation import (check_choice, check_fraction, check_image_size, check_int,
                                    check_seed)
from course_lib.data.decode import COLOR_MODES, decode_images

#: File extensions read as images (compared in lower case).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp", ".tif", ".tiff")

# Folders that tools create next to the data: never classes, never reported.
_TOOL_FOLDERS = {"__MACOSX", "__pycache__", "System Volume Information", "$RECYCLE.BIN"}



# ----------------------------------------------------------------------------
# Scanning: which files, which classes
# ----------------------------------------------------------------------------

SkippedFile = collections.namedtuple("SkippedFile", ["path", "reason"])
SkippedFile.__doc__ = "A file that was not used: its path and why."


@dataclass
class FolderScan:
    """What `scan_image_folder()` found in a folder-per-class dataset.

    Attributes:
        directory: the folder that was scanned (a `Path`).
        class_names: the classes, in alphanumeric order as in Keras: sub-folders
            holding at least one readable image.
        file_paths: readable image files, grouped by class in `class_names`
            order, sorted within a class.
        labels: int32 NumPy array, the class index of each file in `file_paths`.
        skipped: list of `SkippedFile(path, reason)` for the files not used
            (unreadable, empty, not an image, outside any class folder). Hidden
            files such as `.DS_Store` are ignored without being listed.
        ignored_folders: dict folder name -> reason, for sub-folders that are
            not classes because they hold no readable image.
        image_sizes: list of `(width, height)` of each file in `file_paths`,
            as stored (before any EXIF rotation).
    """

    directory: Path
    class_names: list
    file_paths: list
    labels: np.ndarray
    skipped: list = field(default_factory=list)
    ignored_folders: dict = field(default_factory=dict)
    image_sizes: list = field(default_factory=list)

    @property
    def counts(self):
        """Dict class name -> number of readable images, in class order."""
        per_class = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, per_class)}

    @property
    def num_images(self):
        return len(self.file_paths)

    def summary(self, skipped_hint="scan.skipped"):
        """One line: how many images in which classes, how many files skipped."""
        text = (f"Found {self.num_images:,} images in {len(self.class_names)} classes: "
                f"{_short_list(self.class_names)}")
        if self.skipped:
            kinds = collections.Counter(_reason_kind(s.reason) for s in self.skipped)
            detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
            text += (f"; skipped {len(self.skipped)} file{'s' if len(self.skipped) != 1 else ''} "
                     f"({detail}; see {skipped_hint})")
        return text

    def __str__(self):
        lines = [self.summary(), f"Folder: {self.directory}"]
        counts = self.counts
        width = max([len(name) for name in counts] + [5])
        for name, n in counts.items():
            lines.append(f"  {name:<{width}}  {n:>6,}")
        if self.image_sizes:
            areas = [w * h for w, h in self.image_sizes]
            order = np.argsort(areas)
            smallest = self.image_sizes[order[0]]
            median = self.image_sizes[order[len(order) // 2]]
            largest = self.image_sizes[order[-1]]
            lines.append("Image sizes (width x height): smallest {}x{}, median {}x{}, "
                         "largest {}x{}".format(*smallest, *median, *largest))
        for name, reason in self.ignored_folders.items():
            lines.append(f"Not a class: {name}/ ({reason})")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} files:")
            for item in self.skipped[:20]:
                lines.append(f"  {item.path}: {item.reason}")
            if len(self.skipped) > 20:
                lines.append(f"  ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)

    def __repr__(self):
        return self.__str__()


def _short_list(names, limit=10):
    if len(names) <= limit:
        return repr(list(names))
    return repr(list(names[:limit - 2]))[:-1] + f", ... ({len(names) - limit + 2} more)]"


def _reason_kind(reason):
    if reason.startswith("not an image"):
        return "not images"
    if reason.startswith("outside"):
        return "outside class folders"
    return "unreadable"


def _is_hidden(name):
    return name.startswith(".") or name.startswith("~$") or name in ("Thumbs.db", "desktop.ini")


def _is_image_name(name):
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _walk_files(folder):
    """Sorted non-hidden files under `folder`, recursively (hidden/tool folders pruned)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _is_hidden(d) and d not in _TOOL_FOLDERS)
        found.extend(os.path.join(root, f) for f in sorted(files) if not _is_hidden(f))
    return found


def _check_directory(directory):
    if isinstance(directory, (bytes, bytearray)):
        directory = directory.decode()
    if not isinstance(directory, (str, os.PathLike)):
        raise ValueError(
            f"directory should be a path (str or pathlib.Path) to a folder with one "
            f"sub-folder per class. Received: directory={directory!r}")
    path = Path(directory).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"There is no folder at {str(path)!r} (working directory: {os.getcwd()}). "
            f"Expected a folder with one sub-folder per class, e.g. flowers/daisy/001.jpg. "
            f"Check the spelling, or on Colab mount Google Drive first "
            f"(from google.colab import drive; drive.mount('/content/drive')). "
            f"Received: directory={directory!r}")
    if not path.is_dir():
        hint = ""
        if path.suffix.lower() in (".zip", ".tar", ".gz", ".tgz", ".7z", ".rar"):
            hint = (f" It looks like an archive: extract it first, e.g. "
                    f"shutil.unpack_archive({str(path)!r}, 'data'), and pass the folder.")
        raise ValueError(
            f"{str(path)!r} is a file, but a folder with one sub-folder per class was "
            f"expected (e.g. flowers/daisy/001.jpg).{hint} Received: directory={directory!r}")
    return path


def _list_candidates(path, directory):
    """Finds class folders and candidate files; raises on layouts that cannot work."""
    entries = sorted(os.listdir(path))
    visible = [e for e in entries if not _is_hidden(e) and e not in _TOOL_FOLDERS]
    subdirs = [e for e in visible if (path / e).is_dir()]
    loose = [e for e in visible if (path / e).is_file()]
    if not visible:
        raise ValueError(
            f"The folder {str(path)!r} is empty"
            f"{' (only hidden files: ' + ', '.join(entries[:5]) + ')' if entries else ''}. "
            f"Expected one sub-folder per class with images inside, e.g. "
            f"{path.name}/cats/001.jpg and {path.name}/dogs/001.jpg. Received: directory={directory!r}")
    loose_images = [e for e in loose if _is_image_name(e)]
    if not subdirs:
        if loose_images:
            raise ValueError(
                f"The folder {str(path)!r} holds {len(loose_images):,} images but no class "
                f"sub-folders, so there are no labels. Put each class in its own sub-folder, e.g. "
                f"{path.name}/cats/{loose_images[0]} and {path.name}/dogs/..., then pass "
                f"directory={str(path)!r} again. Received: directory={directory!r}")
        raise ValueError(
            f"The folder {str(path)!r} has no sub-folders and no images (found: "
            f"{_short_list(loose, 5)}). Expected one sub-folder per class with images inside, "
            f"e.g. {path.name}/cats/001.jpg. Received: directory={directory!r}")
    return subdirs, loose


def _scan_structure(path, directory):
    """Returns (per_class_files, skipped, ignored_folders) without reading any image."""
    subdirs, loose = _list_candidates(path, directory)
    skipped = [SkippedFile(str(path / name), "outside any class folder (move it into one)")
               for name in loose]
    per_class = {}
    ignored = {}
    for name in subdirs:
        files = _walk_files(path / name)
        images = [f for f in files if _is_image_name(f)]
        for f in files:
            if not _is_image_name(f):
                ext = os.path.splitext(f)[1] or "no extension"
                skipped.append(SkippedFile(f, f"not an image file ({ext})"))
        if images:
            per_class[name] = images
        else:
            ignored[name] = (f"no image files among {len(files)} file(s)" if files
                             else "empty folder")
    return per_class, skipped, ignored


def _scan(directory, image_size=None, color_mode="rgb"):
    """Scans and decodes a folder once. Returns (FolderScan, images array or None)."""
    path = _check_directory(directory)
    per_class, skipped, ignored = _scan_structure(path, directory)
    names = list(per_class)
    files = [f for name in names for f in per_class[name]]
    labels = np.repeat(np.arange(len(names), dtype=np.int32), [len(per_class[n]) for n in names])
    images, ok, sizes, errors = decode_images(files, image_size, color_mode)
    skipped.extend(SkippedFile(files[i], reason) for i, reason in sorted(errors.items()))

    # A class folder whose every image is unreadable is not a class either.
    keep_class = [bool(ok[labels == i].any()) for i in range(len(names))]
    for i, name in enumerate(names):
        if not keep_class[i]:
            ignored[name] = f"none of its {int((labels == i).sum())} image file(s) is readable"
    new_index = np.cumsum(keep_class) - 1
    kept = np.flatnonzero(ok)
    scan = FolderScan(
        directory=path,
        class_names=[name for name, keep in zip(names, keep_class) if keep],
        file_paths=[files[i] for i in kept],
        labels=new_index[labels[kept]].astype(np.int32),
        skipped=sorted(skipped, key=lambda s: s.path),
        ignored_folders=dict(sorted(ignored.items())),
        image_sizes=[sizes[i] for i in kept],
    )
    if not scan.class_names:
        found = ", ".join(f"{k}/ ({v})" for k, v in scan.ignored_folders.items())
        raise ValueError(
            f"No sub-folder of {str(path)!r} holds a readable image, so there is no class. "
            f"Found: {found}. Expected one sub-folder per class with .jpg/.png images inside, "
            f"e.g. {path.name}/cats/001.jpg. Received: directory={directory!r}")
    for name, reason in scan.ignored_folders.items():
        warnings.warn(f"The folder {name!r} in {str(path)!r} is not used as a class: {reason}.",
                      UserWarning, stacklevel=3)
    if images is not None and len(kept) < len(files):
        images = images[kept]
    return scan, images


def scan_image_folder(directory):
    """Scans a folder-per-class dataset and checks that every image can be read.

    Every candidate file is decoded once with Pillow (JPEGs at 1/8 scale: the
    whole file is still read), so a truncated JPEG is caught here rather than
    in the middle of an epoch. Hidden files and folders (`.DS_Store`,
    `.ipynb_checkpoints`, `__MACOSX`) are ignored; other non-image files, empty
    and unreadable files are listed in `.skipped`; a sub-folder without any
    readable image is not a class (a warning names it).

    Expected layout:

        directory/
          class_a/  img001.jpg, img002.png, nested/img003.JPG, ...
          class_b/  ...

    Args:
        directory: path to the dataset folder.

    Returns:
        A `FolderScan`: `class_names`, `counts`, `file_paths`, `labels`,
        `skipped`, `ignored_folders`, image sizes. Printing it gives a short report.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: the path is a file, the folder is empty, holds loose images
            without class sub-folders, or no sub-folder holds a readable image.

    Example:

    >>> scan = scan_image_folder("data/flowers")
    >>> print(scan)
    Found 1,200 images in 5 classes: ['daisy', ...]; skipped 2 files (2 unreadable; see scan.skipped)
    ...
    """
    scan, _ = _scan(directory)
    return scan


# ----------------------------------------------------------------------------
# Loading as tf.data datasets
# ----------------------------------------------------------------------------

def _num_validation(count, validation_split):
    return int(count * validation_split + 0.5)  # round half up, as Keras


def _min_class_size(validation_split):
    """Smallest class size that leaves images in both splits."""
    n = 2
    while not 0 < _num_validation(n, validation_split) < n:
        n += 1
    return n


def _split_indices(labels, class_names, validation_split, seed):
    """Stratified split: the same fraction of every class, chosen with `seed`."""
    train, val, problems = [], [], []
    for c, name in enumerate(class_names):
        members = np.flatnonzero(labels == c)
        # Seeded per class, so adding a class does not change the others' split.
        order = np.random.default_rng([int(seed) % 2 ** 32, c]).permutation(len(members))
        members = members[order]
        num_val = _num_validation(len(members), validation_split)
        if num_val == 0 or num_val == len(members):
            problems.append((name, len(members), num_val))
        val.append(members[:num_val])
        train.append(members[num_val:])
    if problems:
        details = ", ".join(
            f"{name!r} ({n} image{'s' if n != 1 else ''} -> {n - v} training, {v} validation)"
            for name, n, v in problems)
        raise ValueError(
            f"With validation_split={validation_split}, some classes would have no image in the "
            f"training or the validation split: {details}. Add images to these classes (at "
            f"least {_min_class_size(validation_split)} each for this split), or change "
            f"validation_split.")
    train = np.sort(np.concatenate(train))
    val = np.concatenate(val)
    val = val[np.random.default_rng(int(seed) % 2 ** 32).permutation(len(val))]
    return train, val


def _make_dataset(images, labels, indices, batch_size, shuffle, seed):
    import tensorflow as tf
    dataset = tf.data.Dataset.from_tensor_slices(indices.astype(np.int64))
    if shuffle:
        dataset = dataset.shuffle(len(indices), seed=int(seed) % 2 ** 31,
                                  reshuffle_each_iteration=True)
    if batch_size is not None:
        dataset = dataset.batch(batch_size)

    def gather(index):
        return tf.cast(tf.gather(images, index), tf.float32), tf.gather(labels, index)

    # Batches are cast to float32 as they are needed: a float32 copy of the folder would take
    # four times the memory of the uint8 images, to save a cast that costs little.
    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def load_image_folder(directory, image_size=(160, 160), batch_size=32, validation_split=0.2,
                      seed=1337, color_mode="rgb", shuffle=True, verbose=True):
    """Loads a folder-per-class image dataset as `tf.data` datasets.

    A drop-in for `keras.utils.image_dataset_from_directory(directory,
    image_size=..., batch_size=..., validation_split=..., subset="both",
    seed=..., label_mode="int")` that survives messy folders (see
    `scan_image_folder`) and decodes every image only once.

    Expected layout (nested folders inside a class belong to that class):

        directory/
          class_a/  img001.jpg, img002.png, ...
          class_b/  ...

    Each batch is `(images, labels)`: images float32 of shape
    `(batch_size, height, width, channels)` with values in [0, 255] (add a
    `Rescaling(1/255)` layer to the model), labels int32 of shape
    `(batch_size,)`, class indices in `class_names` order (alphanumeric, as in
    Keras). Images are resized with bilinear interpolation without keeping the
    aspect ratio, as Keras does (Pillow's, which also smooths when shrinking),
    and kept as uint8. Unlike Keras, EXIF rotation is applied, and large JPEGs
    are decoded at reduced scale first. Alpha channels are dropped for
    `color_mode="rgb"`.

    Memory: the decoded images are held as uint8, height * width * channels
    bytes each (77 KB at 160x160 RGB: 10,000 images take 0.8 GB); float32
    batches are made as they are needed.

    The validation split is stratified: each class keeps `validation_split`
    of its images for validation, chosen with `seed`, so the same seed gives
    the same split on every run and no file is in both. The training set is
    reshuffled every epoch; the validation set keeps one fixed order, the
    order of its `file_paths`.

    Each returned dataset has the attributes `class_names`, `file_paths` (the
    files of that split), `skipped` (a list of `(path, reason)` for files not
    used) and `scan` (the `FolderScan`).

    Args:
        directory: path to the dataset folder.
        image_size: (height, width) the images are resized to.
        batch_size: images per batch, or None for single images.
        validation_split: fraction of each class kept for validation; 0 or
            None returns a single dataset.
        seed: int, fixes the split and the shuffling.
        color_mode: "rgb" (3 channels), "grayscale" (1) or "rgba" (4).
        shuffle: reshuffle the training images every epoch (False: file order).
        verbose: print the one-line summary.

    Returns:
        `(train_ds, val_ds)`, or one dataset when `validation_split` is 0/None.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: a bad argument; the path is a file; the folder is empty,
            holds loose images without class folders, has fewer than two
            classes with readable images, or a class would be left without
            images in the training or validation split.

    Example:

    >>> train_ds, val_ds = load_image_folder("data/flowers", image_size=(160, 160))
    Found 3,670 images in 5 classes: ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips'] -> 2,936 training, 734 validation
    >>> images, labels = next(iter(train_ds))
    >>> images.shape, labels.shape
    (TensorShape([32, 160, 160, 3]), TensorShape([32]))
    """
    image_size = check_image_size(image_size)
    batch_size = check_int(batch_size, "batch_size", example=32, allow_none=True)
    validation_split = check_fraction(validation_split, "validation_split", allow_none=True)
    seed = check_seed(seed)
    check_choice(color_mode, "color_mode", COLOR_MODES)
    scan, images = _scan(directory, image_size, color_mode)
    path = scan.directory
    if len(scan.class_names) < 2:
        only = scan.class_names[0]
        nested = [d for d in sorted(os.listdir(path / only))
                  if (path / only / d).is_dir() and not _is_hidden(d)]
        hint = (f" {only!r} itself has sub-folders {_short_list(nested, 5)}: if those are your "
                f"classes, pass directory={str(path / only)!r}." if len(nested) >= 2 else "")
        raise ValueError(
            f"Found only one class, {only!r}, in {str(path)!r}; a classifier needs at least two "
            f"class folders (e.g. {path.name}/cats/ and {path.name}/dogs/).{hint} "
            f"Received: directory={directory!r}")

    import tensorflow as tf
    images_tensor = tf.convert_to_tensor(images)
    labels_tensor = tf.convert_to_tensor(scan.labels)

    if validation_split:
        train_idx, val_idx = _split_indices(scan.labels, scan.class_names, validation_split, seed)
        splits = [(train_idx, shuffle), (val_idx, False)]
    else:
        splits = [(np.arange(scan.num_images), shuffle)]
    datasets = []
    for indices, reshuffle in splits:
        dataset = _make_dataset(images_tensor, labels_tensor, indices, batch_size, reshuffle, seed)
        dataset.class_names = list(scan.class_names)
        dataset.file_paths = [scan.file_paths[i] for i in indices]
        dataset.skipped = scan.skipped
        dataset.scan = scan
        datasets.append(dataset)

    if verbose:
        line = scan.summary(skipped_hint="train_ds.skipped" if validation_split else "ds.skipped")
        if validation_split:
            split_text = (f" -> {len(splits[0][0]):,} training, {len(splits[1][0]):,} validation")
            head, sep, tail = line.partition("; skipped")
            line = head + split_text + sep + tail
        print(line)
    return tuple(datasets) if len(datasets) == 2 else datasets[0]
