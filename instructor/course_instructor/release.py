"""Student release: `labs/*.ipynb` (instructor sources) -> `colab/*.ipynb`, and the student tree.

    course-lib release                 # labs/ -> colab/
    course-lib release --check         # exit 1 when colab/ is stale against labs/
    course-lib release --student-tree ../course_lib-student   # what students get (published)

The instructor repository (labs/ with solutions and hidden checks, instructor/, tests/) stays
private. `build_student_tree` writes the public part: course_lib/, data/, colab/, a student
README, requirements and a pyproject that installs course_lib; the setup cell of every released
notebook installs course_lib from that (student) repository, `REPOSITORY_URL`.

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
- every solution region replaced by `# YOUR CODE HERE` / `raise NotImplementedError("Not
  answered yet: ...")` (`STUB_LINES`); answer and check cells tagged `raises-exception`, so
  that Jupyter's Run All goes on past an unanswered question (no later cell uses an answer);
- hidden checks removed; outputs and execution counts cleared; locked cells
  marked read-only for Jupyter; nbgrader's checksum of every graded, answer or locked cell
  recomputed on the released text (`nbgrader_checksum`), as nbgrader's own release does, so
  that `nbgrader validate` and `autograde` do not report them as changed.

A released notebook records a hash of its cells (`cells_sha256`): a notebook in colab/ that
has outputs, or cells that differ from that hash (a student's work), is never overwritten or
removed unless `force=True` (`--force`).

The repository and the pinned version are set in ONE place, `REPOSITORY_URL`
and `RELEASE_REF` below; `COURSE_LIB_REPO_URL` / `COURSE_LIB_RELEASE_REF` (or
`--repo-url` / `--ref`) override them. The output bytes depend only on the
source and those two values: releasing twice gives identical files.
"""

import hashlib
import json
import os
import re
import shutil
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
STUB_LINES = ("# YOUR CODE HERE",
              'raise NotImplementedError("Not answered yet: replace this line with your code")')
RAISES_TAG = "raises-exception"   # Jupyter's Run All goes on past such a cell's error
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


def stub_solution(source):
    """Replaces every solution region by `STUB_LINES`, at the indentation of its BEGIN marker."""
    lines = source.split("\n")
    for begin, end in reversed(fmt.find_regions(source, fmt.SOLUTION)):
        marker = lines[begin]
        indent = marker[:len(marker) - len(marker.lstrip())]
        lines[begin:end + 1] = [indent + line for line in STUB_LINES]
    return "\n".join(lines)


def nbgrader_checksum(cell):
    """Returns nbgrader's checksum of a cell (nbgrader/utils.py `compute_checksum`, 0.9.6).

    An md5 over the source, the cell type, str() of the cell's grade, solution and locked
    flags (locked as nbgrader's `is_locked`: False for a solution cell, True for a graded
    one), the grade_id and, for a graded cell, str(float(points)). Rewritten here, so that
    nbgrader is not a dependency; tests/test_grading_release.py pins it to nbgrader's values.
    """
    meta = cell.metadata["nbgrader"]
    grade, solution = meta.get("grade", False), meta.get("solution", False)
    locked = False if solution else True if grade else meta.get("locked", False)
    digest = hashlib.md5()
    for part in (fmt.source_text(cell), cell.cell_type, str(grade), str(solution), str(locked),
                 meta["grade_id"]):
        digest.update(part.encode("utf-8"))
    if grade:
        digest.update(str(float(meta["points"])).encode("utf-8"))
    return digest.hexdigest()


def _add_nbgrader_checksum(cell):
    # As nbgrader's ComputeChecksums: graded, answer and locked cells carry their checksum.
    meta = cell.metadata.get("nbgrader")
    if meta and (meta.get("grade") or meta.get("solution") or meta.get("locked")):
        meta["checksum"] = nbgrader_checksum(cell)
        meta["cell_type"] = cell.cell_type


def cells_hash(nb):
    """Returns the sha256 of a notebook's cell types and sources (what a student edits)."""
    cells = [[cell.cell_type, fmt.source_text(cell)] for cell in nb.cells]
    return hashlib.sha256(json.dumps(cells).encode("utf-8")).hexdigest()


def student_work(nb):
    """Returns why a released notebook holds a student's work ("" when it is as released)."""
    reasons = []
    if any(cell.get("outputs") or cell.get("execution_count") for cell in nb.cells
           if cell.cell_type == "code"):
        reasons.append("outputs")
    recorded = nb.metadata.get(fmt.OUR_KEY, {}).get("cells_sha256")
    if recorded and recorded != cells_hash(nb):
        reasons.append("cells edited since the release")
    return " and ".join(reasons)


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
            text = stub_solution(text)
        elif kind == "check":
            text = fmt.remove_hidden_tests(text)
        metadata = {key: cell.metadata[key] for key in _KEEP_CELL_METADATA if key in cell.metadata}
        if kind in ("answer", "check") and RAISES_TAG not in metadata.get("tags", []):
            metadata["tags"] = [*metadata.get("tags", []), RAISES_TAG]
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
        _add_nbgrader_checksum(new)
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
                                      "ref": release_ref(ref), "cells_sha256": cells_hash(released)}
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
    kept: dict = field(default_factory=dict)    # path -> why (a student's work: not overwritten)

    @property
    def ok(self):
        return not self.stale and not self.kept

    def __str__(self):
        if self.stale:
            lines = [f"{len(self.stale)} student notebook(s) stale, "
                     f"{len(self.unchanged)} up to date"]
        elif self.written or self.removed or self.kept:
            lines = [f"wrote {len(self.written)} student notebook(s), "
                     f"{len(self.unchanged)} unchanged"
                     + (f", {len(self.removed)} removed" if self.removed else "")
                     + (f", {len(self.kept)} kept" if self.kept else "")]
        else:
            lines = [f"{len(self.unchanged)} student notebook(s) up to date"]
        for path in self.stale:
            if path in self.kept:
                lines.append(f"stale: {path} holds {self.kept[path]} (a student's work?): "
                             f"`course-lib release` keeps it; copy it elsewhere to keep the "
                             f"work, then `course-lib release --force` replaces it")
            else:
                lines.append(f"stale: {path} (run `course-lib release` and commit colab/)")
        if not self.stale:
            for path, why in self.kept.items():
                lines.append(f"kept: {path} holds {why} (a student's work?), so it was not "
                             f"replaced; copy it elsewhere, then `course-lib release --force`")
        return "\n".join(lines)


def release_labs(source_dir=SOURCE_DIR, release_dir=RELEASE_DIR, repo_url=None, ref=None,
                 check=False, force=False):
    """Releases every `source_dir/*.ipynb` into `release_dir/`.

    A notebook of `release_dir` that holds a student's work (outputs, or cells that differ
    from the release's `cells_sha256`: see `student_work`) is not replaced or removed: the
    report lists it in `.kept`, unless `force`.

    Args:
        source_dir: folder of instructor notebooks (default "labs").
        release_dir: folder of student notebooks (default "colab"), created if needed.
        repo_url, ref: override `REPOSITORY_URL` / `RELEASE_REF`.
        check: write nothing; report in `.stale` every file that differs, is
            missing, or has no source any more (and in `.kept` those holding work).
        force: replace (or remove) notebooks that hold a student's work.

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
            continue
        work = "" if current is None or force else _work_in(target)
        if work:
            report.kept[str(target)] = work
        if check:
            report.stale.append(str(target))
        elif not work:
            release_dir.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            report.written.append(str(target))
    for extra in sorted(release_dir.glob("*.ipynb")) if release_dir.exists() else []:
        if extra in expected:
            continue
        work = "" if force else _work_in(extra)
        if check:
            report.stale.append(str(extra))
            if work and _is_generated(extra):
                report.kept[str(extra)] = work
        elif _is_generated(extra):
            if work:
                report.kept[str(extra)] = work
            else:
                extra.unlink()
                report.removed.append(str(extra))
    return report


def _work_in(path):
    try:
        nb = fmt.read_notebook(path)
    except ValueError:
        return "a notebook that cannot be read"
    return student_work(nb)


def _is_generated(path):
    try:
        nb = fmt.read_notebook(path)
    except ValueError:
        return False
    return "released_from" in nb.metadata.get(fmt.OUR_KEY, {})


# ---------------------------------------------------------------------------- student tree

STUDENT_FOLDERS = ("course_lib", "data")          # copied as they are (no __pycache__)
STUDENT_FILES = ("LICENSE",)
# Lines of requirements.txt that only the instructor repository needs (tests, grading).
_INSTRUCTOR_REQUIREMENTS = re.compile(r"^(pytest|nbval|pytest-xdist|pycocotools|nbclient|nbformat)"
                                      r"\b|^-e \./instructor")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")


def student_pyproject(text):
    """Returns pyproject.toml without what only the instructor repository needs.

    Drops the `test` extra and the `[tool.pytest.ini_options]` table; the package list,
    the data package (`course_lib_data` from data/) and the dependencies stay as they are.
    """
    kept, skipping, in_test_extra = [], False, False
    for line in text.split("\n"):
        if line.startswith("["):
            skipping = line.strip() == "[tool.pytest.ini_options]"
        if line.startswith("test = ["):
            in_test_extra = True
        if in_test_extra:   # the extra's list may span lines: up to its closing bracket
            in_test_extra = not line.split("#", 1)[0].rstrip().endswith("]")
            continue
        if not skipping:
            kept.append(line)
    return "\n".join(kept).rstrip("\n") + "\n"


def student_requirements(text):
    """Returns requirements.txt for students: the pinned libraries, Jupyter and `-e .`."""
    lines = ["# The libraries of Google Colab's GPU runtime, pinned, for a local install:",
             "#   python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt",
             "# On Colab, do NOT install this file: each notebook's first cell installs course_lib."]
    for line in text.split("\n"):
        line = line.strip()
        if line and not line.startswith("#") and not _INSTRUCTOR_REQUIREMENTS.match(line):
            lines.append(line)
    return "\n".join(lines) + "\n"


def student_readme(source_dir=SOURCE_DIR, repo_url=None, ref=None):
    """Returns the README of the student tree: where to open the labs and where to work."""
    url = repository_url(repo_url)
    name = url.rsplit("/", 1)[-1]
    return f"""# Deep learning for computer vision: the labs (student copy)

The notebooks of the course's labs (`colab/`) and the library they import (`course_lib`),
at release `{release_ref(ref)}`. This repository is generated by the instructors' release tool:
do not send changes here.

## On Google Colab (nothing to install)

Open a lab from the table, then choose **File > Save a copy in Drive** and work in that copy
(the notebook opened from the link is not saved). Run its first cell before anything else: it
installs `course_lib` (never TensorFlow or Keras, which Colab ships with CUDA) and prints the
versions and the GPU it sees. Use a GPU runtime (Runtime > Change runtime type > T4 GPU).

{colab_links_markdown(source_dir, repo_url, ref)}
## On your own machine (Linux or macOS, about 3 GB with TensorFlow)

    git clone {url}.git && cd {name}
    python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt
    mkdir -p my_work && cp -n colab/*.ipynb my_work/ && jupyter lab my_work

Work on your copies in `my_work/` (git ignores it), never in `colab/`: `git pull` brings the
next release of `colab/` and would conflict with your edits there. `cp -n` never overwrites a
copy you already have.

Each exercise is an answer cell (replace `raise NotImplementedError(...)` with your code)
followed by a check cell that tells you what is wrong. Hidden checks also run when your
notebook is graded.

## Layout

    colab/          the lab notebooks (open a copy, not these)
    course_lib/     the library the notebooks import
    data/           small shipped data (data/README.md lists every dataset)
"""


STUDENT_GITIGNORE = "my_work/\n.venv/\n__pycache__/\n*.pyc\n.ipynb_checkpoints/\n*.egg-info/\nbuild/\n"


@dataclass
class StudentTreeReport:
    """What `build_student_tree` wrote."""
    root: str
    files: int = 0
    notebooks: ReleaseReport = None

    @property
    def ok(self):
        return self.notebooks.ok

    def __str__(self):
        return (f"student tree {self.root}: {self.files} files (course_lib/, data/, colab/, "
                f"README.md, pyproject.toml, requirements.txt); {self.notebooks}")


def build_student_tree(out_dir, source_dir=SOURCE_DIR, root=".", repo_url=None, ref=None,
                       force=False):
    """Writes the student tree: what is published, and what the setup cell installs from.

        out_dir/
          colab/*.ipynb      released from source_dir (stubs, no hidden checks)
          course_lib/        the library, as it is
          data/              the shipped data (installed as course_lib_data)
          README.md          student README (Colab links, where to work)
          pyproject.toml     installs course_lib (no test extra, no pytest settings)
          requirements.txt   the pinned libraries for a local install (no test or grading tools)
          LICENSE, .gitignore

    Nothing of labs/, instructor/, tests/ or bench/ is copied. `out_dir` may be a clone of
    the student repository: its .git and other files stay; course_lib/ and data/ are
    replaced; colab/ is released as by `release_labs` (a student's work is kept unless force).

    Args:
        out_dir: the folder to write (created if needed); not the instructor repository.
        source_dir: the instructor notebooks (default "labs").
        root: the instructor repository (holding course_lib/, data/, pyproject.toml).
        repo_url, ref: the student repository and tag (default `REPOSITORY_URL`, `RELEASE_REF`).
        force: replace colab/ notebooks that hold a student's work.

    Returns:
        A `StudentTreeReport`.

    Raises:
        ValueError: `out_dir` is (or holds) an instructor repository, or `root` is not one.
    """
    out_dir, root = Path(out_dir), Path(root)
    if not (root / "course_lib" / "__init__.py").is_file() or not (root / "pyproject.toml").is_file():
        raise ValueError(f"root should be the instructor repository (with course_lib/ and "
                         f"pyproject.toml). Received: root={str(root)!r}")
    if out_dir.resolve() == root.resolve() or any((out_dir / name).exists()
                                                   for name in ("labs", "instructor")):
        raise ValueError(f"{out_dir} is or holds the instructor repository (labs/, instructor/): "
                         f"the student tree goes in a folder of its own, e.g. a clone of the "
                         f"student repository. Received: out_dir={str(out_dir)!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for folder in STUDENT_FOLDERS:
        if (out_dir / folder).exists():
            shutil.rmtree(out_dir / folder)
        shutil.copytree(root / folder, out_dir / folder, ignore=_IGNORED)
    for name in STUDENT_FILES:
        shutil.copyfile(root / name, out_dir / name)
    (out_dir / "pyproject.toml").write_text(student_pyproject((root / "pyproject.toml").read_text()))
    (out_dir / "requirements.txt").write_text(
        student_requirements((root / "requirements.txt").read_text()))
    (out_dir / "README.md").write_text(student_readme(source_dir, repo_url, ref))
    (out_dir / ".gitignore").write_text(STUDENT_GITIGNORE)
    notebooks = release_labs(source_dir, out_dir / RELEASE_DIR, repo_url=repo_url, ref=ref,
                             force=force)
    files = sum(1 for path in out_dir.rglob("*") if path.is_file() and ".git" not in path.parts)
    return StudentTreeReport(str(out_dir), files, notebooks)


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
