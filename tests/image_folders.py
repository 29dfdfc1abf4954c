"""Small image folders written for the tests of course_lib.data (a helper module, not tests)."""

import io
import warnings

import numpy as np
from PIL import Image

from course_lib.data.folders import load_image_folder

RNG = np.random.default_rng(0)


def write_image(path, array=None, mode="RGB", size=(24, 20), fmt=None, **save_args):
    """Writes a small image (size is width, height) and returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if array is None:
        channels = {"RGB": 3, "RGBA": 4, "L": None}[mode if mode in ("RGB", "RGBA") else "L"]
        shape = (size[1], size[0]) + ((channels,) if channels else ())
        array = RNG.integers(0, 256, shape, dtype=np.uint8)
    image = Image.fromarray(array)
    if mode not in ("RGB", "RGBA", "L"):
        image = image.convert(mode)
    image.save(path, format=fmt, **save_args)
    return path


def make_clean_folder(root, classes=("cats", "dogs", "fish"), per_class=5, size=(24, 20)):
    for name in classes:
        for i in range(per_class):
            write_image(root / name / f"{name}_{i:02d}.png", size=size)
    return root


def make_messy_folder(tmp_path):
    """A student folder with every usual problem."""
    root = tmp_path / "messy"
    for name in ("cats", "dogs"):
        for i in range(4):
            write_image(root / name / f"{i}.png")
    cats, dogs = root / "cats", root / "dogs"
    write_image(cats / "alpha.png", mode="RGBA")
    write_image(cats / "cmyk.jpg", mode="CMYK", fmt="JPEG")
    write_image(cats / "UPPER.JPG", fmt="JPEG")
    write_image(cats / "mixed.Jpeg", fmt="JPEG")
    write_image(cats / "holiday" / "deep" / "nested.png")
    write_image(dogs / "gray.png", mode="L")
    write_image(dogs / "palette.png", mode="P")
    write_image(dogs / "gray16.png", array=RNG.integers(0, 65535, (20, 24), dtype=np.uint16))
    write_image(dogs / "photo.webp", fmt="WEBP")
    (dogs / "empty.jpg").write_bytes(b"")
    good = (cats / "0.png").read_bytes()
    (dogs / "truncated.png").write_bytes(good[: len(good) // 2])
    jpeg = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    (dogs / "truncated.jpg").write_bytes(jpeg.getvalue()[:400])
    (dogs / "fake.png").write_text("not really a png")
    (dogs / "notes.txt").write_text("my notes")
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (cats / ".hidden.png").write_bytes(good)
    write_image(root / ".ipynb_checkpoints" / "x-checkpoint.png")
    write_image(root / "__MACOSX" / "cats" / "._0.png")
    (root / "junk").mkdir()
    (root / "junk" / "readme.md").write_text("nothing to see")
    (root / "broken_class").mkdir()
    (root / "broken_class" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    write_image(root / "loose.png")
    return root


def quiet_load(*args, **kwargs):
    kwargs.setdefault("verbose", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_image_folder(*args, **kwargs)


def all_labels(dataset):
    return np.concatenate([y.numpy() for _, y in dataset])
