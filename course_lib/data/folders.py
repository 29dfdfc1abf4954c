"""Folder-per-class image datasets: load them, export them, look at them.

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
files, CMYK JPEGs, 16-bit or palette PNGs are skipped or converted instead of
crashing in the middle of an epoch, and every skipped file is listed.

How it works: one pass over the folder decodes every image once, which is
also the check that it is readable. The usual files (JPEG, PNG, GIF, BMP) are
decoded in tf.data with the functions Keras uses, so the pixels are the ones
`image_dataset_from_directory` gives; large JPEGs are decoded at 1/2, 1/4 or
1/8 scale (libjpeg's DCT scaling) when that still covers `image_size`. The
files TensorFlow cannot decode (CMYK or EXIF-rotated JPEGs, WebP, TIFF, odd
BMPs) go through Pillow; what neither can read is skipped and listed. The
resized images stay in memory as uint8 (a quarter of Keras' float32
`.cache()`); the datasets gather batches from there: the training set is
reshuffled every epoch, the validation set keeps one order and caches its
float32 batches. The decoded images are also kept on disk (`cache=True`), so
the next call on an unchanged folder (a notebook re-run, a new Colab session on
the same Drive folder) maps them back instead of decoding again.

`export_image_folder()` writes such a folder from arrays (e.g. Fashion-MNIST,
offline); `course_lib.data.tfds.export_tfds_folder()` from a TensorFlow
Datasets dataset (online, e.g. on Colab).
"""

import collections
import functools
import math
import os
import re
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from course_lib import runtime

#: File extensions read as images (compared in lower case). Keras reads the
#: first five; Pillow also reads the others.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp", ".tif", ".tiff")

# Folders that tools create next to the data: never classes, never reported.
_TOOL_FOLDERS = {"__MACOSX", "__pycache__", "System Volume Information", "$RECYCLE.BIN"}

_COLOR_MODES = {"rgb": 3, "grayscale": 1, "rgba": 4}

# Above this many bytes of decoded images, warn that the folder may not fit in memory.
_MEMORY_WARNING_BYTES = 3 * 1024 ** 3


# ----------------------------------------------------------------------------
# Scanning: which files, which classes, which ones are readable
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
        decoded_with_pillow: files TensorFlow's decoders do not handle as they
            are (CMYK or EXIF-rotated JPEGs, WebP, TIFF, odd BMPs), read and
            converted with Pillow instead. `image_dataset_from_directory`
            would fail on most of them (or ignore the EXIF rotation).
        cached_in: the cache folder holding the decoded images
            (`load_image_folder(cache=True)`), or None.
        from_cache: True when this call read the decoded images from that cache.
    """

    directory: Path
    class_names: list
    file_paths: list
    labels: np.ndarray
    skipped: list = field(default_factory=list)
    ignored_folders: dict = field(default_factory=dict)
    image_sizes: list = field(default_factory=list)
    decoded_with_pillow: list = field(default_factory=list)
    cached_in: Path = None
    from_cache: bool = False

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
        if self.decoded_with_pillow:
            count = len(self.decoded_with_pillow)
            lines.append(f"Converted with Pillow (CMYK, EXIF-rotated, WebP, TIFF...): "
                         f"{count:,} file{'s' if count != 1 else ''}")
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


# ----------------------------------------------------------------------------
# Decoding: TensorFlow for the usual files, Pillow for the rest
# ----------------------------------------------------------------------------
#
# 1. Python reads each JPEG's header (size, components, EXIF orientation: a few
#    microseconds, no pixel decoded); other files are routed by extension.
# 2. tf.data decodes the usual files (JPEG, PNG, GIF, BMP) in TensorFlow's
#    thread pool with the functions Keras uses, so the pixels match
#    image_dataset_from_directory. A large JPEG is decoded at 1/2, 1/4 or 1/8
#    scale (libjpeg's DCT scaling) when the result still covers image_size; the
#    files are grouped by scale, one static decoder per group. A file TensorFlow
#    fails on is not fatal (`ignore_errors`).
# 3. Pillow decodes the others (CMYK or EXIF-rotated JPEGs, WebP, TIFF, files
#    TensorFlow rejected) and converts them; a file Pillow cannot read either is
#    skipped, with Pillow's reason.

_JPEG_EXTENSIONS = (".jpg", ".jpeg")
_JPEG_RATIOS = (1, 2, 4, 8)
# Extensions TensorFlow decodes (after the routing below); the rest goes to Pillow.
_TF_KINDS = {".png": "png", ".gif": "image", ".bmp": "image"}


def _route(file_path, image_size):
    """(decoder kind (see `_decoder`) or None for Pillow, (width, height) or None)."""
    extension = os.path.splitext(file_path)[1].lower()
    if extension not in _JPEG_EXTENSIONS:
        return _TF_KINDS.get(extension), None
    try:
        header = _jpeg_header(file_path)
    except (OSError, ValueError):  # damaged or unreadable: Pillow gives the reason
        return None, None
    if header is None:  # not a JPEG: often a PNG named .jpg
        return "image", None
    height, width, components, orientation, ends = header
    # Pillow for CMYK, for a photo to be turned, and for a file cut short (libjpeg
    # would print its complaint on stderr) or with bytes after its end marker.
    if components not in (1, 3) or orientation != 1 or not ends:
        return None, (width, height)
    # Check only: 1/8 scale still reads the whole stream.
    index = len(_JPEG_RATIOS) - 1 if image_size is None else _ratio_index(height, width, image_size)
    return f"jpeg/{_JPEG_RATIOS[index]}", (width, height)


def _to_mode(image, color_mode):
    """Converts a Pillow image of any mode to L, RGB or RGBA."""
    from PIL import Image
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (or 32-bit) grayscale: scale to 0..255 the way TF's decode_png does.
        array = np.asarray(image).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and array.max(initial=0) > 255):
            array = array / 257.0
        image = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), "L")
        mode = "L"
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    target = {"rgb": "RGB", "grayscale": "L", "rgba": "RGBA"}[color_mode]
    if mode == target:
        return image
    if target == "L" and mode not in ("RGB", "RGBA", "LA", "P", "1", "L"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV: via RGB
    try:
        return image.convert(target)
    except ValueError:  # a pair Pillow cannot convert directly (e.g. PA): via RGBA
        return image.convert("RGBA").convert(target)


def _pillow_decode(file_path, image_size, color_mode):
    """Decodes one file with Pillow: EXIF rotation, mode conversion, same resize as TF.

    Returns (uint8 array of shape image_size + (channels,) or None when
    `image_size` is None (check only), original (width, height)). Raises on
    an unreadable file.
    """
    from PIL import Image, ImageOps
    with Image.open(file_path) as image:
        original_size = image.size
        if image.format == "JPEG":
            # Decode at reduced scale when the target allows it (max side, as EXIF may rotate).
            side = max(image_size) if image_size is not None else 1
            image.draft("L" if color_mode == "grayscale" else "RGB", (side, side))
        image.load()  # full decode: raises on truncated or corrupt data
        if image_size is None:
            return None, original_size
        image = _to_mode(ImageOps.exif_transpose(image), color_mode)
        array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[:2] != tuple(image_size):
        import tensorflow as tf
        resized = tf.image.resize(array, image_size)  # bilinear, as Keras and the TF path
        array = np.clip(np.rint(resized.numpy()), 0, 255).astype(np.uint8)
    return array, original_size


# The JPEG markers that start a frame (SOF0-SOF15 but DHT, JPG and DAC): they hold the size.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_HEADER_BYTES = 65536  # read first; the rest of the file only when the frame header lies further


def _exif_orientation(tiff):
    """The orientation (1-8) in an EXIF block's TIFF data, 1 when absent or unreadable."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    if ifd + 2 > len(tiff):
        return 1
    for k in range(int.from_bytes(tiff[ifd:ifd + 2], order)):
        entry = tiff[ifd + 2 + 12 * k: ifd + 14 + 12 * k]
        if len(entry) < 12:
            break
        if int.from_bytes(entry[:2], order) == 0x0112:
            value = int.from_bytes(entry[8:10], order)
            return value if 1 <= value <= 8 else 1
    return 1


def _jpeg_header(file_path):
    """Reads a JPEG's header in Python (no pixel decoded, a few microseconds).

    Returns (height, width, components, EXIF orientation, whether the file
    ends with the end-of-image marker), or None when the file does not start
    like a JPEG. Raises ValueError when the header is
    damaged (Pillow then has the last word, and gives the reason).
    """
    with open(file_path, "rb") as handle:
        data = handle.read(_HEADER_BYTES)
        if data[:3] != b"\xff\xd8\xff":
            return None
        orientation, pos = 1, 2
        while True:
            if pos + 10 > len(data):
                more = handle.read()  # a large EXIF thumbnail or ICC profile came first
                if not more:
                    raise ValueError("the JPEG header ends before the frame header")
                data += more
                continue
            marker = data[pos + 1]
            if data[pos] != 0xFF or marker < 0xC0 or marker == 0xDA:
                raise ValueError(f"damaged JPEG header at byte {pos}")
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            length = int.from_bytes(data[pos + 2:pos + 4], "big")
            if marker in _SOF_MARKERS:
                height = int.from_bytes(data[pos + 5:pos + 7], "big")
                width = int.from_bytes(data[pos + 7:pos + 9], "big")
                handle.seek(-2, os.SEEK_END)
                ends = handle.read(2) == b"\xff\xd9"  # the end-of-image marker
                return height, width, data[pos + 9], orientation, ends
            if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\x00\x00":
                orientation = _exif_orientation(data[pos + 10:pos + 2 + length])
            if length < 2:
                raise ValueError(f"damaged JPEG header at byte {pos}")
            pos += 2 + length


def _ratio_index(height, width, image_size):
    """Index in _JPEG_RATIOS of the largest DCT scale whose output still covers image_size."""
    index = 0
    for k, ratio in enumerate(_JPEG_RATIOS):
        if height // ratio >= image_size[0] and width // ratio >= image_size[1]:
            index = k
    return index


@functools.lru_cache(maxsize=64)
def _decoder(image_size, color_mode, kind):
    """A tf.function mapping (index, path) to (index, original (height, width),
    uint8 image at image_size), for one kind of file: "jpeg/<ratio>" (decoded at
    1/ratio scale), "png", or "image" (GIF, BMP, anything decode_image reads).

    One static decoder per kind, so the graph holds no branch. Cached: tracing
    costs about 30 ms, as much as decoding a hundred small images.
    """
    import tensorflow as tf
    channels = _COLOR_MODES[color_mode]

    def finish(image):
        """Resize to image_size and add alpha for rgba."""
        if image_size is None:  # check only
            return tf.zeros([0], tf.uint8)
        if channels == 4 and image.shape[-1] == 3:
            alpha = tf.fill(tf.concat([tf.shape(image)[:2], [1]], 0), tf.constant(255, tf.uint8))
            image = tf.concat([image, alpha], axis=-1)
        # Bilinear, as Keras (an image already at image_size comes back unchanged),
        # rounded to uint8 (bilinear stays within 0..255).
        image = tf.cast(tf.round(tf.image.resize(image, image_size)), tf.uint8)
        image.set_shape(tuple(image_size) + (channels,))
        return image

    def load(index, path):
        data = tf.io.read_file(path)
        if kind.startswith("jpeg/"):  # decode_jpeg has no alpha: finish adds it for rgba
            image = tf.io.decode_jpeg(data, channels=min(channels, 3), ratio=int(kind[5:]))
        elif kind == "png":
            image = tf.io.decode_png(data, channels=channels)
        else:
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        # The shape depends on the decoded pixels, so a check-only decode is not pruned.
        return index, tf.shape(image)[:2], finish(image)

    signature = [tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.string)]
    return tf.function(load, input_signature=signature)


def _tf_decode(files, kinds, image_size, color_mode, out, progress):
    """Decodes the files with tf.data into `out`; kinds maps index -> decoder kind.

    Returns (indices that worked, their decoded (height, width)).
    """
    import tensorflow as tf
    groups = collections.defaultdict(list)
    for i, kind in kinds.items():
        groups[kind].append(i)
    dataset = None
    for kind, members in sorted(groups.items()):
        members = np.asarray(members, np.int64)
        part = tf.data.Dataset.from_tensor_slices((members, [files[i] for i in members]))
        # A fixed parallelism, twice the cores (file reads wait on the disk): AUTOTUNE
        # ramps up too slowly for a single pass (2,500 photos on 2 cores: 2.6 s with
        # AUTOTUNE, 1.3-1.4 s with 4 to 8 parallel calls; 5,000 PNGs: 0.39 s, 0.19-0.30 s).
        part = part.map(_decoder(image_size, color_mode, kind),
                        num_parallel_calls=_num_workers(), deterministic=False)
        dataset = part if dataset is None else dataset.concatenate(part)
    if dataset is None:
        return np.zeros(0, np.int64), np.zeros((0, 2), np.int64)
    # Batches of about 8 MB: fewer Python steps for tiny images, bounded memory for large ones.
    channels = _COLOR_MODES[color_mode]
    image_bytes = 1 if image_size is None else image_size[0] * image_size[1] * channels
    dataset = dataset.ignore_errors().batch(int(np.clip(2 ** 23 // image_bytes, 16, 512)))
    done, shapes = [], []
    for batch_indices, batch_shapes, images in dataset.prefetch(2):
        batch_indices = batch_indices.numpy()
        if out is not None:
            out[batch_indices] = images.numpy()
        done.append(batch_indices)
        shapes.append(batch_shapes.numpy())
        progress(len(batch_indices))
    if not done:
        return np.zeros(0, np.int64), np.zeros((0, 2), np.int64)
    return np.concatenate(done), np.concatenate(shapes)


def _describe_error(error):
    text = str(error).strip() or type(error).__name__
    text = text.replace("cannot identify image file", "not a format Pillow can read:")
    if len(text) > 160:
        text = text[:157] + "..."
    return f"unreadable ({text})"


def _empty_or(error, file_path):
    """The reason a file was skipped: 'empty file' says more than Pillow's message."""
    try:
        if os.path.getsize(file_path) == 0:
            return "empty file (0 bytes)"
    except OSError:
        pass
    return _describe_error(error)


def _num_workers():
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(4, min(16, 2 * cores))


def _decode_all(files, image_size, color_mode, out=None, verbose=False):
    """Checks (and when `out` is given, decodes and resizes) every file once.

    Returns (ok mask, list of original (width, height) or None, mask of the
    files decoded by Pillow, dict index -> reason for the files not readable).
    """
    n = len(files)
    ok = np.zeros(n, dtype=bool)
    by_pillow = np.zeros(n, dtype=bool)
    sizes = [None] * n
    errors = {}

    def pillow(i):
        try:
            array, sizes[i] = _pillow_decode(files[i], image_size, color_mode)
            if out is not None:
                out[i] = array
            ok[i] = by_pillow[i] = True
            errors.pop(i, None)
        except Exception as error:  # noqa: BLE001 - an unreadable file is skipped, never fatal
            errors[i] = _empty_or(error, files[i])

    from PIL import Image
    show = verbose and n >= 2000
    bar = _tqdm()(total=n, desc="Decoding images", unit="img", leave=False) if show else None
    progress = bar.update if bar is not None else (lambda count: None)
    try:
        with warnings.catch_warnings():
            # EXIF and palette warnings from Pillow are about files, not the student's code.
            warnings.filterwarnings("ignore", module=r"PIL\..*")
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            kinds = {}
            for i, name in enumerate(files):
                kind, sizes[i] = _route(name, image_size)
                if kind is not None:
                    kinds[i] = kind
            done, shapes = _tf_decode(files, kinds, image_size, color_mode, out, progress)
            ok[done] = True
            for i, (height, width) in zip(done, shapes):
                if sizes[i] is None:  # (a JPEG's size is its header's, not its 1/8 decode's)
                    sizes[i] = (int(width), int(height))
            retry = [i for i in range(n) if not ok[i]]
            if retry:
                with ThreadPoolExecutor(max_workers=_num_workers()) as pool:
                    for _ in pool.map(pillow, retry):
                        pass
            progress(n - len(done))
    finally:
        if bar is not None:
            bar.close()
    return ok, sizes, by_pillow, errors


def _aligned_empty(shape, alignment=256):
    """An uninitialised uint8 array whose data starts on an `alignment`-byte boundary.

    TensorFlow can then wrap it without a copy (see `_to_tensor`).
    """
    size = int(np.prod(shape))
    raw = np.empty(size + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset:offset + size].reshape(shape)


def _to_tensor(array):
    """Wraps an aligned, C-contiguous NumPy array as a tf.Tensor, without a copy when possible.

    A copy of a few GB takes seconds and doubles the peak memory; DLPack shares
    the buffer instead (the array must not be modified afterwards).
    """
    import tensorflow as tf
    if array.flags.c_contiguous and array.ctypes.data % 64 == 0 and array.size:
        try:
            return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
        except Exception:  # noqa: BLE001 - older NumPy/TF: fall back to a copy
            pass
    return tf.convert_to_tensor(array)


def _scan(directory, image_size=None, color_mode="rgb", verbose=False, cache=False):
    """Scans and decodes a folder once. Returns (FolderScan, images array or None).

    With `cache`, the decoded images and the scan are kept on disk and read back
    when no file changed (see `_cache_key`).
    """
    path = _check_directory(directory)
    per_class, skipped, ignored = _scan_structure(path, directory)
    names = list(per_class)
    files = [f for name in names for f in per_class[name]]
    key = None
    if cache and image_size is not None:
        key = _cache_key(path, files, skipped, ignored, image_size, color_mode)
        cached = _cache_read(key, path)
        if cached is not None:
            scan, images = cached
            _warn_ignored(scan)
            return scan, images
    labels = np.concatenate([np.full(len(per_class[name]), i, dtype=np.int32)
                             for i, name in enumerate(names)]) if names else np.zeros(0, np.int32)
    images = None
    if image_size is not None:
        channels = _COLOR_MODES[color_mode]
        needed = len(files) * image_size[0] * image_size[1] * channels
        if needed > _MEMORY_WARNING_BYTES:
            warnings.warn(
                f"Decoding {len(files):,} images at image_size={tuple(image_size)} needs "
                f"{needed / 1024 ** 3:.1f} GB of memory. If the runtime crashes, use a smaller "
                f"image_size or fewer images per class.", stacklevel=3)
        images = _aligned_empty((len(files), image_size[0], image_size[1], channels))
    ok, sizes, pillow, errors = _decode_all(files, image_size, color_mode, images, verbose)
    skipped.extend(SkippedFile(files[i], reason) for i, reason in sorted(errors.items()))

    # A class folder whose every image is unreadable is not a class either.
    keep_class = [bool(ok[labels == i].any()) for i in range(len(names))]
    for i, name in enumerate(names):
        if not keep_class[i]:
            ignored[name] = f"none of its {int((labels == i).sum())} image file(s) is readable"
    new_index = np.cumsum(keep_class) - 1
    class_names = [name for name, keep in zip(names, keep_class) if keep]
    kept = np.flatnonzero(ok)
    scan = FolderScan(
        directory=path,
        class_names=class_names,
        file_paths=[files[i] for i in kept],
        labels=new_index[labels[kept]].astype(np.int32) if len(kept) else np.zeros(0, np.int32),
        skipped=sorted(skipped, key=lambda s: s.path),
        ignored_folders=dict(sorted(ignored.items())),
        image_sizes=[sizes[i] for i in kept],
        decoded_with_pillow=[files[i] for i in kept if pillow[i]],
    )
    if not class_names:
        found = ", ".join(f"{k}/ ({v})" for k, v in scan.ignored_folders.items())
        raise ValueError(
            f"No sub-folder of {str(path)!r} holds a readable image, so there is no class. "
            f"Found: {found}. Expected one sub-folder per class with .jpg/.png images inside, "
            f"e.g. {path.name}/cats/001.jpg. Received: directory={directory!r}")
    _warn_ignored(scan)
    if images is not None and len(kept) < len(files):
        for j, i in enumerate(kept):  # compact in place: kept[j] >= j, rows only move forward
            if i != j:
                images[j] = images[i]
        images = images[:len(kept)]
    if key is not None:
        _cache_write(key, scan, images)
    return scan, images


def _warn_ignored(scan):
    for name, reason in scan.ignored_folders.items():
        warnings.warn(f"The folder {name!r} in {str(scan.directory)!r} is not used as a class: "
                      f"{reason}.", UserWarning, stacklevel=4)


# ----------------------------------------------------------------------------
# On-disk cache of decoded folders
# ----------------------------------------------------------------------------
#
# Re-running a notebook, or a new Colab session on the same Drive folder, would
# decode every image again (reading from Drive is slow). The decoded uint8
# images and the scan are kept in cache_dir("folders", key): images.u8 (raw
# bytes) and scan.json. The key covers the folder's path, every file's path,
# size and modification time, image_size and color_mode, so any change to the
# folder (a file added, removed, replaced or renamed) is a miss. Writes are
# atomic (a temporary folder renamed), and a cache that cannot be written or
# read is skipped with a warning, never an error.

_CACHE_FORMAT = 1  # bump when the decoding or the stored layout changes


def _cache_key(path, files, skipped, ignored, image_size, color_mode):
    import hashlib
    digest = hashlib.sha256()
    digest.update(repr((_CACHE_FORMAT, str(path), tuple(image_size), color_mode,
                        sorted(ignored), [s.path for s in skipped])).encode())
    for f in files:
        try:
            st = os.stat(f)
            digest.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{f}\0missing\n".encode())
    return digest.hexdigest()[:32]


def _cache_read(key, path):
    """(FolderScan, images) from the cache, or None on a miss."""
    import json
    folder = runtime.cache_dir("folders", create=False) / key
    try:
        meta = json.loads((folder / "scan.json").read_text())
        shape = tuple(meta["shape"])
        if (folder / "images.u8").stat().st_size != int(np.prod(shape)):
            raise ValueError("images.u8 has the wrong size")
        # Mapped, not read: pages load on first use, and TensorFlow shares the buffer.
        # Copy-on-write ("c") keeps the file intact and the array writable for DLPack.
        images = np.memmap(folder / "images.u8", dtype=np.uint8, mode="c", shape=shape)
        scan = FolderScan(
            directory=path,
            class_names=meta["class_names"],
            file_paths=meta["file_paths"],
            labels=np.asarray(meta["labels"], dtype=np.int32),
            skipped=[SkippedFile(*item) for item in meta["skipped"]],
            ignored_folders=dict(meta["ignored_folders"]),
            image_sizes=[tuple(size) for size in meta["image_sizes"]],
            decoded_with_pillow=meta["decoded_with_pillow"],
            cached_in=folder,
            from_cache=True,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        warnings.warn(f"Ignoring the unreadable folder cache {str(folder)!r} ({error}); "
                      f"the images are decoded again.", UserWarning, stacklevel=4)
        shutil.rmtree(folder, ignore_errors=True)  # written afresh after the decode
        return None
    return scan, images


def _cache_write(key, scan, images):
    import json
    import tempfile
    if images is None or images.nbytes > _MEMORY_WARNING_BYTES:
        return
    meta = {
        "shape": list(images.shape),
        "class_names": scan.class_names,
        "file_paths": scan.file_paths,
        "labels": scan.labels.tolist(),
        "skipped": [list(item) for item in scan.skipped],
        "ignored_folders": scan.ignored_folders,
        "image_sizes": [list(size) for size in scan.image_sizes],
        "decoded_with_pillow": scan.decoded_with_pillow,
    }
    try:
        root = runtime.cache_dir("folders")
        target = root / key
        if target.exists():
            return
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}-"))
        try:
            np.ascontiguousarray(images).tofile(tmp / "images.u8")
            (tmp / "scan.json").write_text(json.dumps(meta))
            os.replace(tmp, target)
            scan.cached_in = target
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as error:
        warnings.warn(f"Could not cache the decoded images ({error}); the next load decodes "
                      f"them again. Pass cache=False to skip the cache.", UserWarning,
                      stacklevel=4)


def scan_image_folder(directory):
    """Scans a folder-per-class dataset and checks that every image can be read.

    Every candidate file is decoded once (TensorFlow's decoders for JPEG, PNG,
    GIF and BMP, as Keras would; Pillow for the rest and for what TensorFlow
    rejects), so a truncated JPEG is caught here rather than in the middle of
    an epoch. JPEGs are checked at 1/8 scale: the whole file is still read.
    Hidden files and folders (`.DS_Store`, `.ipynb_checkpoints`, `__MACOSX`)
    are ignored; other non-image files, empty and unreadable files are listed
    in `.skipped`; a sub-folder without any readable image is not a class
    (a warning names it).

    Expected layout:

        directory/
          class_a/  img001.jpg, img002.png, nested/img003.JPG, ...
          class_b/  ...

    Args:
        directory: path to the dataset folder.

    Returns:
        A `FolderScan`: `class_names`, `counts`, `file_paths`, `labels`,
        `skipped`, `ignored_folders`, image sizes and pixel formats. Printing it
        gives a short report.

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

def _check_load_arguments(image_size, batch_size, validation_split, seed, color_mode):
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                       for s in image_size)):
        hint = (f" For square images pass image_size=({image_size}, {image_size})."
                if isinstance(image_size, int) and not isinstance(image_size, bool) else "")
        raise ValueError(
            f"image_size should be (height, width), two positive ints, e.g. (160, 160).{hint} "
            f"Received: image_size={image_size!r}")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                   or isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(
            f"batch_size should be a positive int (e.g. 32), or None for unbatched images. "
            f"Received: batch_size={batch_size!r}")
    if validation_split is not None and (
            isinstance(validation_split, bool) or not isinstance(validation_split, (int, float))
            or not 0 <= validation_split < 1):
        raise ValueError(
            f"validation_split should be a fraction between 0 and 1 (e.g. 0.2 keeps 20% of each "
            f"class for validation), or 0/None for no validation set. "
            f"Received: validation_split={validation_split!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(
            f"seed should be an int (e.g. seed=1337) so that the validation split is the same "
            f"on every run. Received: seed={seed!r}")
    if color_mode not in _COLOR_MODES:
        raise ValueError(
            f"color_mode should be one of {list(_COLOR_MODES)} (as in "
            f"keras.utils.image_dataset_from_directory). Received: color_mode={color_mode!r}")


def _num_validation(count, validation_split):
    return int(math.floor(count * validation_split + 0.5))


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

    dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if not shuffle:
        # A fixed order (validation): keep the float32 batches after the first
        # epoch, later epochs replay them without copying.
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE)


def load_image_folder(directory, image_size=(160, 160), batch_size=32, validation_split=0.2,
                      seed=1337, color_mode="rgb", shuffle=True, cache=True, verbose=True):
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
    aspect ratio, as Keras does, and kept as uint8 (so values are within 0.5
    of Keras'; identical when no resize is needed). Unlike Keras, EXIF
    rotation is applied and large JPEGs are decoded at reduced scale first.
    Alpha channels are dropped for `color_mode="rgb"`.

    Memory: the decoded images are held as uint8, height * width * channels
    bytes each (77 KB at 160x160 RGB: 10,000 images take 0.8 GB), plus the
    float32 batches of the validation set.

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
        cache: keep the decoded images on disk (`runtime.cache_dir("folders")`)
            and read them back on the next call when no file in the folder
            changed (path, size and modification time are compared): a
            notebook re-run, or a new session on the same Drive folder, skips
            the decoding. False: always decode.
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
    _check_load_arguments(image_size, batch_size, validation_split, seed, color_mode)
    image_size = (int(image_size[0]), int(image_size[1]))
    if not isinstance(cache, bool):
        raise ValueError(f"cache should be True or False. Received: cache={cache!r}")
    scan, images = _scan(directory, image_size, color_mode, verbose=verbose, cache=cache)
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
    images_tensor = _to_tensor(images)  # shares the decoded buffer, no copy
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
        if scan.from_cache:
            line += " (decoded images read from the cache; cache=False decodes again)"
        print(line)
    return tuple(datasets) if len(datasets) == 2 else datasets[0]


# ----------------------------------------------------------------------------
# Looking at the data
# ----------------------------------------------------------------------------

def _first_batch(dataset, num_images):
    """Returns (images as NumPy, labels as NumPy or None) from a dataset or arrays."""
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        images, labels = dataset
        return np.asarray(images)[:num_images], np.asarray(labels)[:num_images]
    if isinstance(dataset, np.ndarray):
        return dataset[:num_images], None
    if not hasattr(dataset, "take"):
        raise ValueError(
            f"dataset should be a tf.data.Dataset of (images, labels) batches (e.g. train_ds from "
            f"load_image_folder) or a tuple (images, labels) of arrays. "
            f"Received: {type(dataset).__name__}")
    images, labels = [], []
    count = 0
    for element in dataset:
        x, y = (element if isinstance(element, (tuple, list)) else (element, None))[:2]
        x = np.asarray(x)
        batched = x.ndim == 4 or (x.ndim == 3 and x.shape[-1] not in (1, 3, 4))
        if not batched:
            x = x[None]
            y = None if y is None else np.asarray(y)[None]
        images.append(x)
        if y is not None:
            labels.append(np.asarray(y))
        count += len(x)
        if count >= num_images:
            break
    images = np.concatenate(images)[:num_images]
    labels = np.concatenate(labels)[:num_images] if labels else None
    return images, labels


def _displayable(image):
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = float(image.min(initial=0)), float(image.max(initial=0))
    if low >= 0 and high <= 1.0:
        return image
    if low >= 0 and high <= 255:
        return image / 255.0
    return (image - low) / max(high - low, 1e-8)  # normalised images: stretch for display


def _label_text(label, class_names):
    if label is None:
        return ""
    label = np.asarray(label)
    if label.ndim > 0 and label.size > 1:  # one-hot or probabilities
        label = int(np.argmax(label))
    else:
        label = int(label.reshape(-1)[0])
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


def plot_image_batch(dataset, class_names=None, num_images=9, ax=None):
    """Shows the first images of a dataset in a grid, titled with their class.

    Args:
        dataset: a `tf.data.Dataset` yielding `(images, labels)` (batched or
            not; int or one-hot labels), or a tuple `(images, labels)` of arrays.
            Values in [0, 255] or [0, 1] show as they are; other ranges are
            stretched.
        class_names: names for the labels; defaults to `dataset.class_names`.
        num_images: how many images to show.
        ax: None (a new figure), one `Axes` (the grid is drawn as one
            mosaic in it), or a sequence of at least `num_images` axes.

    Returns:
        The axes drawn on: an array of axes, or the single `Axes` given.

    Example:

    >>> plot_image_batch(train_ds, num_images=9); plt.show()
    """
    if not isinstance(num_images, (int, np.integer)) or isinstance(num_images, bool) or num_images < 1:
        raise ValueError(f"num_images should be a positive int, e.g. 9. Received: num_images={num_images!r}")
    if class_names is None:
        class_names = getattr(dataset, "class_names", None)
    images, labels = _first_batch(dataset, int(num_images))
    if images.ndim == 3 and images.shape[-1] not in (1, 3, 4):
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(
            f"Expected images of shape (batch, height, width, channels), got shape {images.shape}.")
    import matplotlib.pyplot as plt
    count = len(images)
    cols = int(math.ceil(math.sqrt(count)))
    rows = int(math.ceil(count / cols))
    gray = images.shape[-1] == 1
    cmap = "gray" if gray else None

    if ax is not None and not isinstance(ax, (list, tuple, np.ndarray)):
        # One Axes: a mosaic with a one-pixel gap, labels written on each tile.
        h, w = images.shape[1:3]
        channels = 1 if gray else 3
        mosaic = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, channels), dtype=np.float32)
        for i in range(count):
            r, c = divmod(i, cols)
            tile = _displayable(images[i])
            tile = tile[..., None] if tile.ndim == 2 else tile[..., :3]
            mosaic[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tile
        ax.imshow(mosaic[..., 0] if gray else mosaic, cmap=cmap, vmin=0, vmax=1)
        for i in range(count):
            r, c = divmod(i, cols)
            text = _label_text(None if labels is None else labels[i], class_names)
            if text:
                ax.text(c * (w + 1) + 1, r * (h + 1) + 1, text, fontsize=8, va="top",
                        bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "linewidth": 0})
        ax.set_axis_off()
        return ax

    if ax is None:
        fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
        axes = axes.ravel()
    else:
        axes = np.asarray(ax, dtype=object).ravel()
        if len(axes) < count:
            raise ValueError(f"ax holds {len(axes)} axes but num_images={count}; pass at least "
                             f"{count} axes, one Axes for a mosaic, or ax=None.")
    for i, axis in enumerate(axes):
        axis.set_axis_off()
        if i >= count:
            continue
        axis.imshow(_displayable(images[i]), cmap=cmap, vmin=0, vmax=1)
        axis.set_title(_label_text(None if labels is None else labels[i], class_names), fontsize=10)
    return axes


def _counts_from(counts_or_dataset, class_names):
    source = counts_or_dataset
    if isinstance(source, FolderScan):
        return list(source.counts), list(source.counts.values())
    scan = getattr(source, "scan", None)
    if isinstance(scan, FolderScan) and hasattr(source, "file_paths"):
        # One of our datasets: count the labels of its own split, no decoding needed.
        index = {p: label for p, label in zip(scan.file_paths, scan.labels)}
        per_class = np.bincount([index[p] for p in source.file_paths],
                                minlength=len(scan.class_names))
        return list(scan.class_names), [int(n) for n in per_class]
    if isinstance(source, dict):
        return [str(k) for k in source], [int(v) for v in source.values()]
    if isinstance(source, (list, tuple, np.ndarray)):
        values = [int(v) for v in np.asarray(source).reshape(-1)]
        names = class_names if class_names is not None else [str(i) for i in range(len(values))]
        if len(names) != len(values):
            raise ValueError(f"class_names has {len(names)} names but there are {len(values)} "
                             f"counts; pass one name per count.")
        return list(names), values
    if hasattr(source, "take"):
        # Any dataset of (images, labels): count the labels (this reads the whole dataset).
        names = class_names if class_names is not None else getattr(source, "class_names", None)
        totals = collections.Counter()
        for element in source:
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                raise ValueError("The dataset should yield (images, labels) to count its classes.")
            y = np.asarray(element[1])
            if y.ndim == 2:
                y = np.argmax(y, axis=-1)  # one-hot (categorical) labels
            totals.update(int(v) for v in y.reshape(-1))
        if names is None:
            names = [str(i) for i in range(max(totals, default=-1) + 1)]
        return list(names), [totals.get(i, 0) for i in range(len(names))]
    raise ValueError(
        f"plot_class_balance expects a dict {{class name: count}}, a list of counts, a FolderScan "
        f"or a dataset of (images, labels). Received: {type(source).__name__}")


def plot_class_balance(counts_or_dataset, class_names=None, ax=None):
    """Draws a horizontal bar chart of the number of images per class.

    A dashed line marks the mean; a class far below it is under-represented.

    Args:
        counts_or_dataset: a dict `{class name: count}`, a list of counts, a
            `FolderScan`, a dataset from `load_image_folder` (counted from its
            files, no decoding) or any dataset of `(images, labels)` (read once).
        class_names: names for a list of counts (or a dataset without
            `class_names`).
        ax: matplotlib axes to draw on (default: a new figure).

    Returns:
        The axes.

    Example:

    >>> plot_class_balance(train_ds); plt.show()
    """
    names, values = _counts_from(counts_or_dataset, class_names)
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    positions = np.arange(len(names))
    ax.barh(positions, values, color="tab:blue")
    ax.set_yticks(positions)
    ax.set_yticklabels(names)
    ax.invert_yaxis()  # first class on top
    if values:
        mean = float(np.mean(values))
        ax.axvline(mean, color="gray", linestyle="--", linewidth=1, label=f"mean {mean:,.0f}")
        for y, v in zip(positions, values):
            ax.text(v, y, f" {v:,}", va="center", fontsize=8)
        ax.set_xlim(0, max(values) * 1.15 + 1)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("images")
    ax.set_title(f"Images per class ({sum(values):,} in total)")
    return ax


# ----------------------------------------------------------------------------
# Exporting folder-per-class datasets
# ----------------------------------------------------------------------------

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


def _resolve_classes(classes, class_names, argument="classes"):
    """Returns the list of class indices asked for (names or ints), in the order given."""
    if classes is None:
        return list(range(len(class_names)))
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    chosen = []
    for item in classes:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < len(class_names):
                raise ValueError(f"Class index {item} is out of range: there are "
                                 f"{len(class_names)} classes (0 to {len(class_names) - 1}). "
                                 f"Received: {argument}={classes!r}")
            index = int(item)
        elif item in class_names:
            index = list(class_names).index(item)
        else:
            raise ValueError(f"Unknown class {item!r}. Choose among {list(class_names)}. "
                             f"Received: {argument}={classes!r}")
        if index in chosen:
            raise ValueError(f"Class {class_names[index]!r} is listed twice. "
                             f"Received: {argument}={classes!r}")
        chosen.append(index)
    if not chosen:
        raise ValueError(f"{argument} is empty; pass None for the default classes or a list of "
                         f"names. "
                         f"Received: {argument}={classes!r}")
    return chosen


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
    chosen = _resolve_classes(classes, class_names)
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
              disable=total < 500) as bar, ThreadPoolExecutor(_num_workers()) as pool:
        for _ in pool.map(write, jobs):
            bar.update(1)
    written = ", ".join(f"{class_names[c]!r} {len(m):,}" for c, _, m in plan)
    print(f"Wrote {total:,} images in {len(plan)} classes to {path}: {written}")
    return path
