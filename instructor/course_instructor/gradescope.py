"""Gradescope autograder export: `course-lib gradescope labs/NN_x.ipynb --out autograder.zip`.

Gradescope builds one Docker image from the zip (running `setup.sh` once, as root), then for
each submission starts a fresh container and runs `/autograder/run_autograder`, which must
write `/autograder/results/results.json`. The zip holds:

    setup.sh            installs bubblewrap, a venv in /opt/course-venv with requirements.txt,
                        course_lib and course_instructor (not editable: nothing under
                        /autograder is needed at run time), a user `student`; /autograder 0700
    run_autograder      grades /autograder/submission/*.ipynb (one notebook) and writes
                        /autograder/results/results.json in Gradescope's format
    requirements.txt    the lab's libraries (the repository's pins, minus tests and tools)
    config.json         lab file name, timeouts, fast mode, limits
    lab.ipynb           the instructor source (hidden checks included)
    packages/course_lib, packages/instructor   the sources of both packages

Isolation inside the container: the student's kernel runs in a bubblewrap sandbox when
bubblewrap works there (it needs user namespaces, which Docker's default seccomp profile
may refuse); otherwise as the unprivileged user `student`, which cannot read /autograder
(0700: the source, the config) or write the results. results.json says which one ran.

`AUTOGRADER_ROOT` (default /autograder) and `COURSE_LIB_AUTOGRADER_PYTHON` (default
/opt/course-venv/bin/python) let `run_autograder` run on a local copy, as the tests do.
"""

import json
import os
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from course_instructor import format as fmt

VENV = "/opt/course-venv"
STUDENT_USER = "student"
LAB_FILE = "lab.ipynb"
_NOT_FOR_GRADING = ("pytest", "nbval", "jupyterlab", "-e ", "--editable")

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq bubblewrap python3-venv python3-pip >/dev/null
python3 -m venv {VENV}
{VENV}/bin/pip install --quiet --upgrade pip
{VENV}/bin/pip install --quiet -r requirements.txt
{VENV}/bin/pip install --quiet --no-deps ./packages/course_lib ./packages/instructor
id -u {STUDENT_USER} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin {STUDENT_USER}
chmod 0755 {VENV}
chmod 0700 /autograder
"""

RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# Gradescope runs this once per submission (as root, working folder /autograder).
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{COURSE_LIB_AUTOGRADER_PYTHON:-{VENV}/bin/python}}"
exec "$PYTHON" -m course_instructor.gradescope run --root "$ROOT"
"""


def _requirements(repository):
    path = repository / "requirements.txt"
    if not path.is_file():
        raise ValueError(f"{path} is missing: the autograder installs the lab's libraries from "
                         f"the repository's requirements.txt. Run from a clone of the course "
                         f"repository (or pass repository=...).")
    lines = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not stripped.startswith(_NOT_FOR_GRADING):
            lines.append(stripped)
    named = {re.split(r"[\s<>=!~\[;@]", line, maxsplit=1)[0].lower().replace("_", "-")
             for line in lines}
    for extra in ("ipykernel>=6", "nbformat>=5.9", "nbclient>=0.10"):   # once each
        if re.split(r"[<>=]", extra)[0] not in named:
            lines.append(extra)
    return "\n".join(lines) + "\n"


def _add_tree(archive, folder, prefix):
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc") \
                and ".egg-info" not in str(path):
            _add(archive, f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())


def _add(archive, name, data, executable=False):
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))   # same bytes every build
    info.external_attr = (0o755 if executable else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_autograder(source, out="autograder.zip", repository=None, cell_timeout=120,
                     notebook_timeout=1800, fast=False, limits=None):
    """Writes the Gradescope autograder zip for one lab; returns its path.

    Args:
        source: the instructor notebook (labs/NN_x.ipynb), with its hidden checks.
        out: the zip to write.
        repository: the course repository (default: the one this package comes from).
        cell_timeout, notebook_timeout: seconds per cell and per submission.
        fast: grade in fast mode (COURSE_LIB_FAST=1).
        limits: a `sandbox.Limits` for the student's kernel (default `Limits()`).

    Raises:
        ValueError: the source is not a lint-clean graded notebook, or a file is missing.
    """
    from course_instructor.sandbox import Limits
    source = Path(source)
    if not source.is_file():
        raise ValueError(f"The instructor notebook {source} does not exist. Pass a lab source, "
                         f"e.g. labs/01_dnn_from_scratch.ipynb. Received: source={str(source)!r}")
    fmt.read_graded_source(source, "exporting")  # fails early on a source that cannot be graded
    limits = Limits() if limits is None else limits
    package = Path(__file__).resolve().parent
    repository = Path(repository) if repository else package.parent.parent
    library = repository / "course_lib"
    if not (library / "__init__.py").is_file():
        raise ValueError(f"{repository} holds no course_lib package; pass repository= the "
                         f"course repository. Received: repository={str(repository)!r}")
    config = {"lab": LAB_FILE, "source_name": source.name, "cell_timeout": cell_timeout,
              "notebook_timeout": notebook_timeout, "fast": bool(fast),
              "limits": {k: getattr(limits, k) for k in limits.__dataclass_fields__}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH, executable=True)
        _add(archive, "run_autograder", RUN_AUTOGRADER, executable=True)
        _add(archive, "requirements.txt", _requirements(repository))
        _add(archive, "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
        _add(archive, LAB_FILE, source.read_bytes())
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (repository / name).is_file():
                _add(archive, f"packages/course_lib/{name}", (repository / name).read_bytes())
        _add_tree(archive, library, "packages/course_lib/course_lib")
        _add_tree(archive, repository / "data", "packages/course_lib/data")
        _add(archive, "packages/instructor/pyproject.toml",
             (package.parent / "pyproject.toml").read_bytes())
        _add_tree(archive, package, "packages/instructor/course_instructor")
    os.replace(temporary, out)
    return out


# ---------------------------------------------------------------------------- in the container

def _results_json(score, output, tests=(), execution_time=None):
    data = {"score": score, "output": output, "tests": list(tests),
            "stdout_visibility": "hidden"}
    if execution_time is not None:
        data["execution_time"] = int(execution_time)
    return data


def _isolation():
    """('bwrap', kwargs) where bubblewrap works, else ('user', kwargs) for the student user."""
    from course_instructor.sandbox import SandboxUnavailableError, find_bwrap
    forced = os.environ.get("COURSE_LIB_AUTOGRADER_ISOLATION", "")
    if forced not in ("", "bwrap", "user"):
        raise ValueError(f"COURSE_LIB_AUTOGRADER_ISOLATION should be 'bwrap' or 'user'. "
                         f"Received: {forced!r}")
    if forced != "user":
        try:
            find_bwrap()
            return "bwrap", {"sandbox": True}
        except SandboxUnavailableError:
            if forced == "bwrap":
                raise
    if os.getuid() != 0:
        raise ValueError("bubblewrap cannot run here and the autograder is not root, so it "
                         "cannot switch the student's kernel to an unprivileged user either.")
    return "user", {"sandbox": False, "run_as_user": os.environ.get(
        "COURSE_LIB_AUTOGRADER_USER", STUDENT_USER)}


def run_autograder(root="/autograder"):
    """Grades the one notebook in ROOT/submission; writes ROOT/results/results.json. Returns it."""
    from course_instructor import grade
    from course_instructor.results import write_atomic
    from course_instructor.sandbox import Limits
    started = time.monotonic()
    root = Path(root)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((root / "source" / "config.json").read_text())
    submissions = sorted(p for p in (root / "submission").rglob("*.ipynb")
                         if ".ipynb_checkpoints" not in p.parts) if (root / "submission").is_dir() else []
    if not submissions:
        data = _results_json(0, "No notebook (.ipynb) found in your submission. Upload the lab's "
                                f"notebook ({config['source_name']}) itself, not a zip or a PDF.")
    else:
        chosen = [p for p in submissions if p.name == config["source_name"]] or submissions
        notes = ([f"Your submission holds {len(submissions)} notebooks; graded {chosen[0].name}."]
                 if len(submissions) > 1 else [])
        mode, isolation = _isolation()
        limits = Limits(**config.get("limits", {}))
        env = dict(os.environ)
        if config.get("fast"):
            env["COURSE_LIB_FAST"] = "1"
        with tempfile.TemporaryDirectory(prefix="course-lib-gradescope-") as folder:
            os.chmod(folder, 0o700)
            try:                # not following a link, at most MAX_SUBMISSION_BYTES
                data = grade.read_capped(chosen[0])
            except (ValueError, OSError) as error:
                data = None
                message = str(error)
            if data is None:
                result = None
            else:
                (Path(folder) / "submission.ipynb").write_bytes(data)
                result = grade.grade_submissions(
                    root / "source" / config["lab"], folder, out=None,
                    cell_timeout=config["cell_timeout"],
                    notebook_timeout=config["notebook_timeout"],
                    env=env, limits=limits, **isolation)[0]
        if result is None:
            data = _results_json(0, f"Your submission {chosen[0].name} was not graded: {message}.")
            write_atomic(results_dir / "results.json",
                         json.dumps(data, indent=2, sort_keys=True) + "\n")
            return data
        gradescope = result.to_gradescope()
        how = ("in a bubblewrap sandbox" if mode == "bwrap"
               else f"as the unprivileged user {isolation['run_as_user']!r}")
        output = "\n".join(notes + [gradescope.get("output", ""),
                                    f"Graded {how} ({result.status})."]).strip()
        data = _results_json(result.score, output, gradescope["tests"],
                             execution_time=time.monotonic() - started)
    write_atomic(results_dir / "results.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def main(argv=None):
    """`python -m course_instructor.gradescope run --root /autograder` (what run_autograder calls)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m course_instructor.gradescope")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    args = parser.parse_args(argv)
    try:
        data = run_autograder(args.root)
    except Exception as error:  # noqa: BLE001 - Gradescope must get a results.json whatever happens
        from course_instructor.results import write_atomic
        results_dir = Path(args.root) / "results"
        results_dir.mkdir(parents=True, exist_ok=True)
        message = (f"The autograder failed ({type(error).__name__}); your instructor has the "
                   f"details. This is not a problem with your answers.")
        write_atomic(results_dir / "results.json",
                     json.dumps(_results_json(0, message), indent=2, sort_keys=True) + "\n")
        print(f"autograder error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"score {data['score']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
