"""Student release: `labs/*.ipynb` (instructor sources) -> `colab/*.ipynb`.

    course-lib release                 # labs/ -> colab/
    course-lib release --check         # exit 1 when colab/ is stale against labs/

A released notebook is the source with:

- an "Open in Colab" link first, then a setup cell that, on Colab only, installs
  course_lib from the repository at the pinned release (`pip install --no-deps`,
  so Colab's TensorFlow and Keras stay as they are), installs any missing light
  dependency, checks that TensorFlow is there (Colab's TPU runtimes have none: it
  says to switch to a GPU runtime), and with `MOUNT_DRIVE = True` mounts Google
  Drive and points every download cache there (`DRIVE_CACHES`: course_lib's cache,
  TFDS data, Keras weights, KerasHub presets). It ends with one line: course_lib,
  TensorFlow and Keras versions and the GPU. Running it twice is harmless.
  Elsewhere it prints one line and does nothing;
- every solution region replaced by `# YOUR CODE HERE` / `raise NotImplementedError()`;
- hidden checks removed; outputs and execution counts cleared; locked cells
  marked read-only for Jupyter.

The repository and the pinned version are set in ONE place, `REPOSITORY_URL`
and `RELEASE_REF` below; `COURSE_LIB_REPO_URL` / `COURSE_LIB_RELEASE_REF` (or
`--repo-url` / `--ref`) override them. The output bytes depend only on the
source and those two values: releasing twice gives identical files.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib import __version__
from course_instructor import format as fmt

REPOSITORY_URL = "https://github.com/dl-vision-course/course_lib"
RELEASE_REF = f"v{__version__}"
REPO_ENV = "COURSE_LIB_REPO_URL"
REF_ENV = "COURSE_LIB_RELEASE_REF"
SOURCE_DIR = "labs"
RELEASE_DIR = "colab"

# Import name -> pip requirement, for course_lib's dependencies (pyproject.toml) that
# Colab might lack. TensorFlow and Keras are never installed by the setup cell.
LIGHT_DEPENDENCIES = {
    "numpy": "numpy>=1.26",
    "matplotlib": "matplotlib>=3.7",
    "PIL": "pillow>=10",
    "tqdm": "tqdm>=4.60",
}

BADGE_ID = "course-lib-colab-badge"
SETUP_ID = "course-lib-colab-setup"
_KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info")
_KEEP_CELL_METADATA = ("nbgrader", fmt.OUR_KEY, "tags")
_GITHUB = re.compile(r"^https://github\.com/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+?)(\.git)?/?$")


def repository_url(repo_url=None):
    """Returns the repository URL: the argument, else `COURSE_LIB_REPO_URL`, else `REPOSITORY_URL`."""
    url = repo_url or os.environ.get(REPO_ENV) or REPOSITORY_URL
    if not _GITHUB.match(url):
        raise ValueError(
            f"The repository URL should be a GitHub URL like https://github.com/owner/repo "
            f"(Colab opens notebooks from GitHub). Received: repo_url={url!r}")
    return url.rstrip("/").removesuffix(".git")


def release_ref(ref=None):
    """Returns the pinned tag/branch/commit: the argument, else `COURSE_LIB_RELEASE_REF`, else `RELEASE_REF`."""
    ref = ref or os.environ.get(REF_ENV) or RELEASE_REF
    if not re.match(r"^[A-Za-z0-9._/-]+$", ref):
        raise ValueError(f"The release ref should be a git tag, branch or commit, e.g. "
                         f"{RELEASE_REF!r}. Received: ref={ref!r}")
    return ref


def colab_url(name, repo_url=None, ref=None, release_dir=RELEASE_DIR):
    """Returns the URL that opens `colab/<name>` on Colab straight from GitHub."""
    match = _GITHUB.match(repository_url(repo_url))
    return (f"https://colab.research.google.com/github/{match['owner']}/{match['repo']}"
            f"/blob/{release_ref(ref)}/{release_dir}/{Path(name).name}")


def pip_requirement(repo_url=None, ref=None):
    """Returns the pip requirement that installs course_lib at the pinned release."""
    return f"course_lib @ git+{repository_url(repo_url)}.git@{release_ref(ref)}"


def badge_markdown(name, repo_url=None, ref=None):
    """Returns the markdown of the "Open in Colab" badge for a released notebook."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(name, repo_url, ref)})")


# Where MOUNT_DRIVE = True keeps the downloads, and the variable each library reads
# (kagglehub: kagglehub/config.py CACHE_FOLDER_ENV_VAR_NAME; Keras and tfds read theirs
# once, when imported, so the setup cell sets them before importing TensorFlow).
DRIVE_FOLDER = "/content/drive/MyDrive/course_lib"
DRIVE_CACHES = {
    "COURSE_LIB_CACHE": "cache",              # course_lib: exported folders, decoded images
    "TFDS_DATA_DIR": "tensorflow_datasets",   # TensorFlow Datasets (774 MB for Oxford-IIIT Pet)
    "KERAS_HOME": "keras",                    # Keras: ImageNet weights, keras.datasets
    "KAGGLEHUB_CACHE": "kagglehub",           # KerasHub presets (RetinaNet, 130 MB)
}
# The modules that read a variable only when they are imported.
READ_AT_IMPORT = {"TFDS_DATA_DIR": "tensorflow_datasets", "KERAS_HOME": "keras"}


def setup_cell_source(repo_url=None, ref=None):
    """Returns the code of the released notebooks' first code cell (see module docstring)."""
    requirement = pip_requirement(repo_url, ref)
    version = release_ref(ref).removeprefix("v")
    dependencies = ",\n    ".join(f"{module!r}: {pip!r}" for module, pip in LIGHT_DEPENDENCIES.items())
    caches = ",\n        ".join(f"{name!r}: {folder!r}" for name, folder in DRIVE_CACHES.items())
    return f'''# Run this cell first. On Google Colab it installs course_lib {release_ref(ref)} (never
# TensorFlow or Keras: Colab's own builds use its GPU); anywhere else it does nothing.
# Running it again is harmless.
MOUNT_DRIVE = False  # True: keep datasets, ImageNet weights and checkpoints in your Google Drive
DRIVE_FOLDER = {DRIVE_FOLDER!r}

import importlib.metadata
import importlib.util
import os
import subprocess
import sys

if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
    if importlib.util.find_spec("tensorflow") is None:
        raise RuntimeError(
            "This Colab runtime has no TensorFlow (Colab's TPU runtimes ship without it), and the "
            "labs need it. Choose Runtime > Change runtime type > T4 GPU, then run this cell again.")
    _light = {{
    {dependencies},
    }}
    _missing = [pip for module, pip in _light.items() if importlib.util.find_spec(module) is None]
    # tensorflow-datasets 4.9.10 needs importlib_resources to download, without declaring it
    if importlib.util.find_spec("tensorflow_datasets") and not importlib.util.find_spec("importlib_resources"):
        _missing.append("importlib_resources>=5")
    if _missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *_missing], check=True)
    try:
        _installed = importlib.metadata.version("course_lib")
    except importlib.metadata.PackageNotFoundError:
        _installed = None
    if _installed != {version!r}:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        {requirement!r}], check=True)
        importlib.invalidate_caches()  # so that this kernel finds the package just installed
    if MOUNT_DRIVE:
        from google.colab import drive
        drive.mount("/content/drive")
        _read_at_import = {READ_AT_IMPORT!r}
        _stale = []
        for _variable, _folder in {{
        {caches},
        }}.items():
            _path = os.path.join(DRIVE_FOLDER, _folder)
            os.makedirs(_path, exist_ok=True)
            if os.environ.get(_variable) != _path and _read_at_import.get(_variable) in sys.modules:
                _stale.append(_read_at_import[_variable])
            os.environ[_variable] = _path
        print(f"Downloads are kept in {{DRIVE_FOLDER}} (course_lib cache, TFDS data, Keras weights, "
              f"KerasHub presets).")
        if _stale:
            print(f"{{' and '.join(_stale)}} were imported before this cell and keep their old "
                  f"folders: choose Runtime > Restart session, then run this cell first.")
    from course_lib import runtime
    runtime.quiet_tensorflow()
    import keras
    import tensorflow as tf
    _gpus = tf.config.list_physical_devices("GPU")
    _gpu = _gpus and tf.config.experimental.get_device_details(_gpus[0]).get("device_name", "a GPU")
    print(f"Colab is ready: course_lib {{importlib.metadata.version('course_lib')}}, TensorFlow "
          f"{{tf.__version__}}, Keras {{keras.__version__}}, "
          + (f"GPU: {{_gpu}}" if _gpus else "no GPU (Runtime > Change runtime type > T4 GPU "
             "for the labs that train ImageNet networks)"))
else:
    print("Not on Colab: nothing to install (locally, pip install -r requirements.txt).")'''


def release_notebook(nb, name, repo_url=None, ref=None):
    """Returns the student version of one instructor notebook.

    Args:
        nb: the instructor notebook (NotebookNode or dict).
        name: its file name, e.g. "01_scratch.ipynb" (used for the Colab link).
        repo_url, ref: override `REPOSITORY_URL` / `RELEASE_REF`.

    Raises:
        ValueError: the source fails the lint (the message lists every problem).
    """
    problems = fmt.lint_notebook(nb, name=str(name))
    if problems:
        raise ValueError(f"{name} cannot be released until its format problems are fixed "
                         f"(course-lib lint):\n" + "\n".join(f"  {p}" for p in problems))
    source = fmt.copy_notebook(nb)
    cells = []
    for index, cell in enumerate(source.cells):
        kind = fmt.cell_kind(cell)
        text = fmt.source_text(cell)
        if kind == "answer":
            text = fmt.stub_solution(text)
        elif kind == "check":
            text = fmt.remove_hidden_tests(text)
        metadata = {key: cell.metadata[key] for key in _KEEP_CELL_METADATA if key in cell.metadata}
        if fmt.nbgrader_meta(cell).get("locked"):
            metadata["deletable"] = False
            metadata["editable"] = False
        cell_id = cell.get("id") or f"cell-{index}"
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(text, metadata=metadata, id=cell_id)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(text, metadata=metadata, id=cell_id)
        else:
            new = nbformat.v4.new_raw_cell(text, metadata=metadata, id=cell_id)
        cells.append(new)
    badge = nbformat.v4.new_markdown_cell(
        f"{badge_markdown(name, repo_url, ref)}\n\n"
        f"Student version of this lab. On Colab, run the first code cell before anything else.",
        id=BADGE_ID, metadata={fmt.OUR_KEY: {"role": "colab-badge"}})
    setup = nbformat.v4.new_code_cell(setup_cell_source(repo_url, ref), id=SETUP_ID,
                                      metadata={fmt.OUR_KEY: {"role": "colab-setup"}})
    released = nbformat.v4.new_notebook(cells=[badge, setup] + cells)
    released.metadata = {key: source.metadata[key] for key in _KEEP_NOTEBOOK_METADATA
                         if key in source.metadata}
    released.metadata[fmt.OUR_KEY] = {"released_from": f"{SOURCE_DIR}/{Path(name).name}",
                                      "ref": release_ref(ref)}
    released.nbformat, released.nbformat_minor = 4, 5
    nbformat.validate(released)
    return released


def notebook_bytes(nb):
    """Serialises a notebook deterministically (sorted keys, indent 1, final newline)."""
    text = nbformat.writes(nb, version=4)
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


@dataclass
class ReleaseReport:
    """What `release_labs` did (or, with check=True, would do)."""
    written: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    stale: list = field(default_factory=list)
    removed: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.stale

    def __str__(self):
        if self.stale:
            lines = [f"{len(self.stale)} released notebook(s) stale, "
                     f"{len(self.unchanged)} up to date"]
        else:
            lines = [f"released {len(self.written) + len(self.unchanged)} notebook(s): "
                     f"{len(self.written)} written, {len(self.unchanged)} unchanged"
                     + (f", {len(self.removed)} removed" if self.removed else "")]
        for path in self.stale:
            lines.append(f"stale: {path} (run `course-lib release` and commit colab/)")
        return "\n".join(lines)


def release_labs(source_dir=SOURCE_DIR, release_dir=RELEASE_DIR, repo_url=None, ref=None,
                 check=False):
    """Releases every `source_dir/*.ipynb` into `release_dir/`.

    Args:
        source_dir: folder of instructor notebooks (default "labs").
        release_dir: folder of student notebooks (default "colab"), created if needed.
        repo_url, ref: override `REPOSITORY_URL` / `RELEASE_REF`.
        check: write nothing; report in `.stale` every file that differs, is
            missing, or has no source any more.

    Returns:
        A `ReleaseReport`.

    Raises:
        ValueError: `source_dir` holds no notebook, or a source fails the lint.
    """
    source_dir, release_dir = Path(source_dir), Path(release_dir)
    sources = sorted(source_dir.glob("*.ipynb"))
    if not sources:
        raise ValueError(f"{source_dir} holds no notebook (*.ipynb) to release. "
                         f"Received: source_dir={str(source_dir)!r}")
    report = ReleaseReport()
    expected = {}
    for path in sources:
        nb = fmt.read_notebook(path)
        expected[release_dir / path.name] = notebook_bytes(
            release_notebook(nb, path.name, repo_url=repo_url, ref=ref))
    for target, content in expected.items():
        current = target.read_bytes() if target.exists() else None
        if current == content:
            report.unchanged.append(str(target))
        elif check:
            report.stale.append(str(target))
        else:
            release_dir.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            report.written.append(str(target))
    for extra in sorted(release_dir.glob("*.ipynb")) if release_dir.exists() else []:
        if extra in expected:
            continue
        if check:
            report.stale.append(str(extra))
        elif _is_generated(extra):
            extra.unlink()
            report.removed.append(str(extra))
    return report


def _is_generated(path):
    try:
        nb = fmt.read_notebook(path)
    except ValueError:
        return False
    return "released_from" in nb.metadata.get(fmt.OUR_KEY, {})


def lab_title(nb, default):
    """Returns the first markdown heading of a notebook, without the '#'s."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in fmt.source_text(cell).split("\n"):
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return default


def colab_links_markdown(source_dir=SOURCE_DIR, repo_url=None, ref=None):
    """Returns a markdown table of every lab with its "Open in Colab" badge, for the README."""
    rows = ["| lab | student notebook |", "|---|---|"]
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        title = lab_title(fmt.read_notebook(path), path.stem)
        rows.append(f"| {title} | {badge_markdown(path.name, repo_url, ref)} |")
    return "\n".join(rows) + "\n"
