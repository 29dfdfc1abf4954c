"""TensorFlow Datasets, the course's way: one loader, one error, reusable exports.

`load_tfds()` is `tfds.load()` that never crashes a lab cell with a library's
own exception: offline, with the package missing, or when the dataset's host
answers with an error, it raises `DatasetUnavailableError` whose message says
what failed and what to do. A lab's online cell catches that one class and
falls back to its offline data.

`export_tfds_folder()` writes a TFDS image dataset as a folder-per-class
dataset (what lab 00 builds). Run a second time on the same folder (Colab's
"Restart session", a Drive folder kept between sessions) it reuses the
complete export it finds there instead of downloading again.
"""

import collections
import json
from pathlib import Path

from course_lib import runtime
from course_lib._validation import resolve_classes
from course_lib.data.export import _check_export_target, _check_per_class, _folder_names, _tqdm
from course_lib.data.folders import _short_list
from course_lib.runtime import DatasetUnavailableError

# Written last by export_tfds_folder: its presence means the export finished.
EXPORT_RECORD = ".course_lib_export.json"


def load_tfds(name, split, caller, offline_hint, what="the dataset", hint="",
              skip_image_decoding=False, **load_kwargs):
    """`tfds.load(name, split=split, **load_kwargs)`, failing at once with what to do.

    Offline (`runtime.is_offline()`), nothing is downloaded: only a dataset
    already in the TFDS data folder (`TFDS_DATA_DIR`, default
    `~/tensorflow_datasets`) loads.

    Args:
        name: the TFDS name, e.g. "tf_flowers".
        split: the TFDS split, e.g. "train" or "test[:100]".
        caller: how the message names the function the student called.
        offline_hint: what to do instead, e.g. the offline data to use.
        what: how the message names the download, e.g. "Oxford-IIIT Pet (about 800 MB)".
        hint: appended to the message of an online failure.
        skip_image_decoding: True keeps the "image" feature as encoded bytes.
        **load_kwargs: passed to `tfds.load` (e.g. `as_supervised=True, with_info=True`).

    Returns:
        What `tfds.load` returns.

    Raises:
        DatasetUnavailableError: tensorflow-datasets is missing, the machine is
            offline and the data was not downloaded before, or the download or
            preparation failed (any error from tfds or the network).
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise DatasetUnavailableError(
            f"{caller} needs the tensorflow-datasets package, which is not installed. On Colab it "
            f"is preinstalled; elsewhere run `pip install tensorflow-datasets` (it downloads the "
            f"data, so you must be online). {offline_hint}") from error
    if skip_image_decoding:
        load_kwargs["decoders"] = {"image": tfds.decode.SkipDecoding()}
    offline = runtime.is_offline()
    try:
        return tfds.load(name, split=split, download=not offline, **load_kwargs)
    except Exception as error:  # noqa: BLE001 - tfds and the network raise many kinds
        if offline:
            raise DatasetUnavailableError(
                f"{caller} must download {what}, but this machine is offline "
                f"({runtime.OFFLINE_ENV}=1 or no connection) and no copy was downloaded before. "
                f"Run it on Colab or online. {offline_hint}") from error
        raise DatasetUnavailableError(
            f"{caller} could not download or prepare {what} ({name!r}, split={split!r}): "
            f"{type(error).__name__}: {_first_lines(error)}. "
            f"{_advice(error, hint)} {offline_hint}") from error


def tfds_class_names(name):
    """Returns the class names of a TFDS image dataset, read from its description (no download).

    Example:

    >>> tfds_class_names("tf_flowers")
    ['dandelion', 'daisy', 'tulips', 'sunflowers', 'roses']

    Raises:
        DatasetUnavailableError: tensorflow-datasets is not installed, or `name` is unknown.
        ValueError: the dataset has no "label" feature with class names.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise DatasetUnavailableError(
            f"tfds_class_names({name!r}) needs the tensorflow-datasets package, which is not "
            f"installed. On Colab it is preinstalled; elsewhere run "
            f"`pip install tensorflow-datasets`.") from error
    try:
        builder = tfds.builder(name)
    except Exception as error:  # noqa: BLE001 - DatasetNotFoundError and its kin
        raise DatasetUnavailableError(
            f"TensorFlow Datasets has no dataset {name!r} ({_first_lines(error)}). Check the "
            f"name, e.g. 'tf_flowers' or 'oxford_iiit_pet'. Received: name={name!r}") from error
    label = builder.info.features["label"] if "label" in builder.info.features else None
    if label is None or not hasattr(label, "names"):
        raise ValueError(f"{name!r} has no 'label' feature with class names, so it cannot be "
                         f"written as one folder per class. Received: name={name!r}")
    return list(label.names)


def _advice(error, hint):
    """`hint` (e.g. check the name) for a wrong name or split; otherwise, about the download."""
    wrong_request = (type(error).__name__ == "DatasetNotFoundError"
                     or "split" in _first_lines(error).lower())
    if hint and wrong_request:
        return hint
    return "If the dataset's host is down or the connection dropped, try again later."


def _first_lines(error, limit=300):
    """The gist of a library's error: its first line, and tfds' 'Did you mean' if any."""
    lines = str(error).strip().splitlines() or [""]
    text = lines[0] if len(lines[0]) <= limit else lines[0][:limit] + "..."
    text += "".join(f" {line.strip()}" for line in lines[1:] if line.startswith("Did you mean"))
    return text.rstrip(".")


def _export_request(name, split, classes, per_class):
    """The arguments that define an export, as JSON-able values."""
    if classes is not None and not isinstance(classes, (list, tuple)):
        classes = [classes]
    if classes is not None:
        classes = [c if isinstance(c, str) else int(c) for c in classes]
    return {"name": name, "split": split, "classes": classes,
            "per_class": None if per_class is None else int(per_class)}


def _read_record(path):
    try:
        return json.loads((path / EXPORT_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _counts_on_disk(path, folders):
    return {f: (sum(1 for e in (path / f).iterdir() if e.is_file()) if (path / f).is_dir() else 0)
            for f in folders}


def _reuse_previous_export(path, request, directory):
    """True when `path` holds a finished export of `request`, False when empty; else raises.

    Runs before any download, so a folder that cannot be written fails at once.
    """
    if not path.is_dir() or not any(path.iterdir()):
        return False
    record = _read_record(path)
    if record is None:
        existing = sorted(e.name for e in path.iterdir())
        raise FileExistsError(
            f"The folder {str(path)!r} is not empty (it holds {_short_list(existing, 5)}) and "
            f"holds no finished export (an interrupted one leaves no {EXPORT_RECORD}). "
            f"Pass overwrite=True to replace the class folders being written (nothing else is "
            f"touched), or choose a new folder. Received: directory={directory!r}, overwrite=False")
    if record.get("request") != request:
        raise FileExistsError(
            f"The folder {str(path)!r} holds another export ({record.get('request')}), not the one "
            f"asked for ({request}). Choose a new folder, or pass overwrite=True to replace its "
            f"class folders (nothing else is touched). Received: directory={directory!r}")
    counts = record.get("counts", {})
    on_disk = _counts_on_disk(path, list(counts))
    if on_disk != counts:
        changed = [f"{f!r}: {on_disk[f]} files, {counts[f]} written" for f in counts
                   if on_disk[f] != counts[f]]
        raise FileExistsError(
            f"The folder {str(path)!r} holds an export of {request['name']!r} whose files changed "
            f"since it was written ({', '.join(changed[:5])}). Pass overwrite=True to write it "
            f"again, or choose a new folder. Received: directory={directory!r}")
    total = sum(counts.values())
    print(f"Reusing the {total:,} images in {len(counts)} classes already exported to {path} "
          f"(from {request['name']!r}, split {request['split']!r}); "
          f"pass overwrite=True to export again.")
    return True


def export_tfds_folder(name, directory, classes=None, per_class=None, split="train",
                       overwrite=False):
    """Writes a TensorFlow Datasets image dataset as a folder-per-class dataset.

    Meant for Colab (or any machine online with `tensorflow-datasets`
    installed), e.g. `tf_flowers` (5 classes) or `oxford_iiit_pet` (37 breeds).
    The encoded files are written as they are stored (no re-encoding), as
    `directory/<class name>/<class name>_<index>.jpg`, `index` being the
    position in the split. With `per_class`, the first `per_class` images of
    each class in the split's (fixed, already shuffled) order are taken.

    A finished export leaves a small record (`.course_lib_export.json`). Called
    again with the same arguments on that folder (a notebook re-run, Colab's
    "Restart session", a folder kept on Drive), it reuses the images, prints so
    and downloads nothing.

    Args:
        name: the TFDS name, e.g. "tf_flowers" or "oxford_iiit_pet".
        directory: the folder to write into.
        classes: class names (or indices) to write; None for all.
        per_class: images per class; None for all.
        split: the TFDS split, e.g. "train" or "test".
        overwrite: False reuses a complete export of the same request and
            refuses any other non-empty folder; True replaces only the class
            folders being written and never deletes anything else.

    Returns:
        The `Path` of `directory`.

    Raises:
        DatasetUnavailableError: offline without a previous download,
            tensorflow-datasets missing, or the download failed.
        FileExistsError: `directory` holds something else (another export, an
            interrupted one, your own files) and `overwrite` is False.
        ValueError: bad arguments, unknown classes.

    Example (Colab):

    >>> export_tfds_folder("tf_flowers", "data/flowers", per_class=200)
    Wrote 1,000 images in 5 classes to data/flowers: 'dandelion' 200, ...
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name should be a TFDS dataset name such as 'tf_flowers' or "
                         f"'oxford_iiit_pet'. Received: name={name!r}")
    _check_per_class(per_class)
    request = _export_request(name, split, classes, per_class)
    path = Path(directory).expanduser()
    if not overwrite and _reuse_previous_export(path, request, directory):
        return path
    offline_hint = ("Offline, build the folder from Fashion-MNIST instead: "
                    "(x, y), _ = load_fashion_mnist(subset='small'); "
                    "export_image_folder(x, y, 'data/fashion', FASHION_MNIST_CLASSES, "
                    "classes=[...], per_class=100).")
    dataset, info = load_tfds(
        name, split, caller=f"export_tfds_folder({name!r})", offline_hint=offline_hint,
        hint=("Check the name (e.g. 'tf_flowers', 'oxford_iiit_pet') and the split (e.g. "
              "'train', 'test')."),
        skip_image_decoding=True, as_supervised=True, with_info=True)
    import tensorflow_datasets as tfds  # (load_tfds checked that it is installed)

    class_names = list(info.features["label"].names)
    chosen = resolve_classes(classes, class_names)
    folders = _folder_names(class_names, chosen)
    wanted = {c: folder for c, folder in zip(chosen, folders)}
    path = _check_export_target(directory, folders, overwrite)
    (path / EXPORT_RECORD).unlink(missing_ok=True)
    for folder in folders:
        (path / folder).mkdir()

    try:
        num_examples = info.splits[split].num_examples
    except (KeyError, TypeError, AttributeError):
        num_examples = None
    total = per_class * len(chosen) if per_class else (num_examples if classes is None else None)
    written = collections.Counter()
    width = len(str(max((num_examples or 100000) - 1, 0)))
    tqdm = _tqdm()
    with tqdm(total=total, desc=f"Writing {name}", unit="img", leave=False) as bar:
        for index, (encoded, label) in enumerate(tfds.as_numpy(dataset)):
            label = int(label)
            if label not in wanted or (per_class and written[label] >= per_class):
                continue
            data = bytes(encoded)
            extension = _image_extension(data)
            target = path / wanted[label] / f"{wanted[label]}_{index:0{width}d}"
            if extension is None:  # an unusual format: decode and store as PNG
                import io
                from PIL import Image
                with Image.open(io.BytesIO(data)) as image:
                    image.save(target.with_suffix(".png"))
            else:
                target.with_suffix(extension).write_bytes(data)
            written[label] += 1
            bar.update(1)
            if per_class and all(written[c] >= per_class for c in chosen):
                break
    counts = {wanted[c]: written[c] for c in chosen}
    (path / EXPORT_RECORD).write_text(json.dumps({"request": request, "counts": counts}, indent=1),
                                      encoding="utf-8")
    summary = ", ".join(f"{class_names[c]!r} {written[c]:,}" for c in chosen)
    print(f"Wrote {sum(written.values()):,} images in {len(chosen)} classes to {path}: {summary}")
    return path


def _image_extension(data):
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:4] == b"GIF8":
        return ".gif"
    if data[:2] == b"BM":
        return ".bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None


__all__ = ["DatasetUnavailableError", "load_tfds", "export_tfds_folder", "tfds_class_names"]
