"""Image files to pixels: Pillow, in a thread pool, into one uint8 array.

Image.open reads only the header. For a JPEG, draft() asks libjpeg to decode at
1/2, 1/4 or 1/8 scale when that still covers the target size: the slow part of a
large photo is its full-size decode. Pillow releases the GIL while it decodes
and resizes, so threads keep every core busy. A file Pillow cannot read is
skipped with Pillow's reason, never fatal.
"""

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

COLOR_MODES = {"rgb": 3, "grayscale": 1, "rgba": 4}

# Above this many bytes of decoded images, warn that the folder may not fit in memory.
_MEMORY_WARNING_BYTES = 3 * 1024 ** 3


def _to_mode(image, color_mode):
    """Converts a Pillow image of any mode to L, RGB or RGBA."""
    from PIL import Image
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (or 32-bit) grayscale: scale to 0..255 the way TF's decode_png does.
        array = np.asarray(image).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and array.max(initial=0) > 255):
            array = array / 257.0
        image = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))  # 2-D uint8: "L"
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


def _decode(file_path, image_size, color_mode):
    """Decodes one file: EXIF rotation, mode conversion, resize (area average or bilinear).

    Returns (uint8 array of shape image_size + (channels,), or None when
    `image_size` is None (only check that the file decodes), original
    (width, height)). Raises on an unreadable file.
    """
    from PIL import Image, ImageOps
    with Image.open(file_path) as image:
        original_size = image.size
        side = 1 if image_size is None else max(image_size)  # max: EXIF may rotate
        image.draft("L" if color_mode == "grayscale" else "RGB", (side, side))
        image.load()  # the whole file is read: a truncated or corrupt one raises here
        if image_size is None:
            return None, original_size
        ImageOps.exif_transpose(image, in_place=True)  # no copy when there is nothing to turn
        image = _to_mode(image, color_mode)
        height, width = image_size
        if image.size != (width, height):
            # Shrinking: each output pixel averages the input pixels it covers (draft already
            # did most of the shrinking, in libjpeg); enlarging: bilinear, as Keras.
            shrinking = image.width >= width and image.height >= height
            method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
            image = image.resize((width, height), method)
        array = np.asarray(image)
    return (array[..., None] if array.ndim == 2 else array), original_size


def _skip_reason(error, file_path):
    """Why a file was skipped, in a few words: 'empty file' says more than Pillow's message."""
    try:
        if os.path.getsize(file_path) == 0:
            return "empty file (0 bytes)"
    except OSError:
        pass
    text = str(error).strip() or type(error).__name__
    text = text.replace("cannot identify image file", "not a format Pillow can read:")
    return f"unreadable ({text[:157] + '...' if len(text) > 160 else text})"


def num_workers():
    """Threads for decoding or writing images: twice the cores (Pillow releases the GIL), 4 to 16."""
    return max(4, min(16, 2 * (os.cpu_count() or 1)))


def decode_images(files, image_size, color_mode="rgb"):
    """Decodes every file once, in a thread pool, into one uint8 array.

    Args:
        files: list of image file paths.
        image_size: (height, width) to resize to, or None to only check that
            each file decodes.
        color_mode: "rgb", "grayscale" or "rgba".

    Returns:
        (images, ok, sizes, errors): uint8 array of shape
        (len(files), height, width, channels) (None when image_size is None;
        rows of unreadable files are left as they were), bool mask of the files
        decoded, their original (width, height), and {index: reason} for the others.
    """
    from PIL import Image
    images = None
    if image_size is not None:
        shape = (len(files), *image_size, COLOR_MODES[color_mode])
        if np.prod(shape) > _MEMORY_WARNING_BYTES:
            warnings.warn(
                f"Decoding {len(files):,} images at image_size={tuple(image_size)} needs "
                f"{np.prod(shape) / 1024 ** 3:.1f} GB of memory. If the runtime crashes, use a "
                f"smaller image_size or fewer images per class.", stacklevel=5)
        images = np.empty(shape, dtype=np.uint8)
    ok = np.zeros(len(files), dtype=bool)
    sizes = [None] * len(files)
    errors = {}

    def decode(i):
        try:
            array, sizes[i] = _decode(files[i], image_size, color_mode)
            if images is not None:
                images[i] = array
            ok[i] = True
        except Exception as error:  # noqa: BLE001 - an unreadable file is skipped, never fatal
            errors[i] = _skip_reason(error, files[i])

    with warnings.catch_warnings():
        # EXIF and palette warnings from Pillow are about files, not the student's code.
        warnings.filterwarnings("ignore", module=r"PIL\..*")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with ThreadPoolExecutor(max_workers=num_workers()) as pool:
            list(pool.map(decode, range(len(files))))
    return images, ok, sizes, errors
