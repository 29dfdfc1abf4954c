"""Gradescope export (course_instructor.gradescope) and the grading command line."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from course_instructor import cli, gradescope, sandbox
from test_grading_sandbox import (PARAMS_OK, RELU_OK, SECRET, SOFTMAX_OK, SOURCE,
                                  write_submission)

HONEST = {"q1_relu": RELU_OK, "q2_softmax": SOFTMAX_OK, "q3_params": PARAMS_OK}


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    assert cli.main(["gradescope", str(SOURCE), "--out", str(out), "--fast",
                     "--notebook-timeout", "300", "--memory-mb", "2048"]) == 0
    return out


def test_zip_holds_what_gradescope_runs(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        requirements = archive.read("requirements.txt").decode()
        config = json.loads(archive.read("config.json"))
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "config.json", "lab.ipynb",
            "packages/course_lib/pyproject.toml", "packages/course_lib/course_lib/checks.py",
            "packages/course_lib/data/fashion_mnist_small.npz",
            "packages/instructor/pyproject.toml",
            "packages/instructor/course_instructor/gradescope.py"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert not any("__pycache__" in name for name in names)
    assert "tensorflow==" in requirements and "-e " not in requirements and "pytest" not in requirements
    assert config["fast"] is True and config["limits"]["memory_mb"] == 2048
    assert config["source_name"] == "source.ipynb"
    assert "bubblewrap" in setup and "useradd" in setup and "chmod 0700 /autograder" in setup
    again = tmp_path / "again.zip"
    assert cli.main(["gradescope", str(SOURCE), "--out", str(again), "--fast",
                     "--notebook-timeout", "300", "--memory-mb", "2048"]) == 0
    assert again.read_bytes() == autograder_zip.read_bytes()          # same bytes every build


def install(autograder_zip, root, answers=None, name="source.ipynb"):
    """Lays out /autograder as Gradescope does, under `root`."""
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    (root / "submission").mkdir()
    if answers is not None:
        write_submission(root / "submission", Path(name).stem, answers)


def run_autograder(root):
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), COURSE_LIB_AUTOGRADER_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(root / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert (root / "results" / "results.json").is_file(), done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text()), done


def test_run_autograder_grades_one_submission(autograder_zip, tmp_path):
    install(autograder_zip, tmp_path, HONEST)
    results, done = run_autograder(tmp_path)
    assert done.returncode == 0, done.stderr
    assert results["score"] == 6
    assert {t["name"] for t in results["tests"]} >= {"q1_relu_check", "q3_params_check"}
    assert all(set(t) >= {"name", "score", "max_score", "output"} for t in results["tests"])
    assert "bubblewrap sandbox" in results["output"]


def test_student_cannot_read_the_source_or_write_the_results(autograder_zip, tmp_path):
    """The answer looks for the instructor notebook and results.json where Gradescope puts them."""
    attack = RELU_OK + f"""
import glob as g, builtins as b
for p in g.glob('{tmp_path}/**', recursive=True) + g.glob('/autograder/**', recursive=True):
    try:
        print(getattr(b, 'op' + 'en')(p).read()[:100000])
    except Exception:
        pass
    try:
        getattr(b, 'op' + 'en')('{tmp_path}/results/results.json', 'w').write('{{"score": 100}}')
    except Exception:
        pass
"""
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "secret.txt").write_text(SECRET)
    install(autograder_zip, tmp_path, dict(HONEST, q1_relu=attack))
    results, _ = run_autograder(tmp_path)
    text = json.dumps(results)
    assert SECRET not in text and "BEGIN HIDDEN" not in text
    assert results["score"] <= 6 and results["score"] >= 4        # q2, q3 still graded
    assert (tmp_path / "source" / "secret.txt").read_text() == SECRET


def test_no_notebook_in_the_submission_says_what_to_upload(autograder_zip, tmp_path):
    install(autograder_zip, tmp_path)
    (tmp_path / "submission" / "answers.pdf").write_bytes(b"%PDF")
    results, done = run_autograder(tmp_path)
    assert done.returncode == 0
    assert results["score"] == 0 and "No notebook (.ipynb)" in results["output"]
    assert "source.ipynb" in results["output"]


def test_autograder_failure_still_writes_results_json(tmp_path):
    (tmp_path / "source").mkdir()                  # no config.json: the autograder fails
    assert gradescope.main(["run", "--root", str(tmp_path)]) == 1
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0 and "not a problem with your answers" in results["output"]


def test_export_errors_say_what_was_received(tmp_path):
    with pytest.raises(ValueError, match=r"does not exist.*Received: source="):
        gradescope.build_autograder(tmp_path / "missing.ipynb", tmp_path / "a.zip")
    with pytest.raises(ValueError, match=r"holds no course_lib package.*Received: repository="):
        gradescope.build_autograder(SOURCE, tmp_path / "a.zip", repository=tmp_path)


# ---------------------------------------------------------------------------- command line

def fake_grader(calls):
    def grade_submissions(source, submissions, out=None, cell_timeout=120, notebook_timeout=1800,
                          kernel_name="python3", env=None, sandbox=True, limits=None, progress=None):
        calls.append({"sandbox": sandbox, "limits": limits, "cell_timeout": cell_timeout})
        return []
    return grade_submissions


def test_cli_no_sandbox_warns_and_limits_reach_the_grader(monkeypatch, capsys, tmp_path):
    from course_instructor import grade
    calls = []
    monkeypatch.setattr(grade, "grade_submissions", fake_grader(calls))
    assert cli.main(["grade", "--source", str(SOURCE), "--submissions", str(tmp_path),
                     "--out", str(tmp_path / "out"), "--no-sandbox", "--memory-mb", "3000",
                     "--max-processes", "50", "--notebook-timeout", "100"]) == 0
    assert "WARNING: --no-sandbox" in capsys.readouterr().err
    assert calls[0]["sandbox"] is False
    assert calls[0]["limits"] == sandbox.Limits(memory_mb=3000, processes=50, wall_seconds=160)
    assert cli.main(["grade", "--source", str(SOURCE), "--submissions", str(tmp_path)]) == 0
    assert calls[1]["sandbox"] is True and "WARNING" not in capsys.readouterr().err


def test_cli_without_bwrap_stops_before_grading_and_says_how_to_fix(monkeypatch, capsys, tmp_path):
    from course_instructor import grade
    calls = []
    monkeypatch.setattr(grade, "grade_submissions", fake_grader(calls))
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    assert cli.main(["grade", "--source", str(SOURCE), "--submissions", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bwrap" in err and "apt-get install bubblewrap" in err and "--no-sandbox" in err
    assert calls == []


def test_cli_rejects_a_bad_limit(capsys, tmp_path):
    assert cli.main(["gradescope", str(SOURCE), "--out", str(tmp_path / "a.zip"),
                     "--memory-mb", "0"]) == 2
    assert "memory_mb should be a positive number" in capsys.readouterr().err


@pytest.mark.skipif(os.getuid() != 0, reason="the fallback switches the kernel to another user: root only")
def test_run_autograder_without_bwrap_runs_the_kernel_as_an_unprivileged_user(autograder_zip, tmp_path):
    """Gradescope's container may refuse bubblewrap: the kernel then runs as another user, which
    can neither read /autograder (0700) nor write the results. Run inside a throw-away container
    (bubblewrap as root) where the Python installation is world-readable, as in Gradescope."""
    root = tmp_path / "autograder"
    root.mkdir()
    leak = Path(tempfile.mkdtemp(prefix="g2-leak-"))   # world-writable: the attack reports here
    os.chmod(leak, 0o777)                                 # (pytest's tmp_path is 0700)
    attack = RELU_OK + f"""
import builtins as b
seen = []
for p in ['{root}/source/lab.ipynb', '{root}/source/config.json']:
    try:
        seen.append(getattr(b, 'op' + 'en')(p).read()[:100000])
    except Exception as e:
        seen.append(type(e).__name__)
try:
    getattr(b, 'op' + 'en')('{root}/results/results.json', 'w').write('{{"score": 100}}')
    seen.append('WROTE')
except Exception as e:
    seen.append(type(e).__name__)
getattr(b, 'op' + 'en')('{leak}/seen.txt', 'w').write(repr(seen))
"""
    install(autograder_zip, root, dict(HONEST, q1_relu=attack))
    os.chmod(root, 0o700)                                   # what setup.sh does to /autograder
    home, repo = Path.home(), Path(__file__).resolve().parents[1]
    python = Path(os.path.realpath(sys.executable)).parents[1]
    command = ["bwrap", "--bind", "/", "/"]
    if home in python.parents or home in repo.parents:
        command += ["--tmpfs", str(home)]
        for path in {python, repo, Path(sys.prefix)}:
            if home in path.parents:
                top = home / path.relative_to(home).parts[0]
                command += ["--bind", str(top), str(top)]
    command += ["--dev-bind", "/dev", "/dev", "--proc", "/proc", "--unshare-pid",
                "--die-with-parent", "bash", str(root / "run_autograder")]
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), COURSE_LIB_AUTOGRADER_PYTHON=sys.executable,
               COURSE_LIB_AUTOGRADER_ISOLATION="user", COURSE_LIB_AUTOGRADER_USER="65534")
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert (root / "results" / "results.json").is_file(), done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    text = json.dumps(results)
    assert "unprivileged user '65534'" in results["output"], done.stderr[-2000:]
    assert "BEGIN HIDDEN" not in text and '"cell_timeout"' not in text
    assert 4 <= results["score"] <= 6
    seen = (leak / "seen.txt").read_text()
    shutil.rmtree(leak)
    assert seen == repr(["PermissionError"] * 3)


def test_requirements_list_each_grading_library_once(tmp_path):
    # Issue 21: the zip's requirements listed ipykernel, nbformat and nbclient twice.
    from course_instructor.gradescope import _requirements
    (tmp_path / "requirements.txt").write_text("numpy==2.0\nipykernel>=6\nNBFormat==5.10\n")
    lines = _requirements(tmp_path).splitlines()
    assert lines == ["numpy==2.0", "ipykernel>=6", "NBFormat==5.10", "nbclient>=0.10"]
    for name in ("ipykernel", "nbformat", "nbclient"):
        assert sum(line.lower().startswith(name) for line in _requirements(Path(__file__).resolve().parents[1]).splitlines()) == 1
