"""Student release: stubs, hidden checks removed, Colab setup cell, links, determinism."""

import importlib.util
import shutil
import os
import sys
import tempfile
import tomllib
import types
from pathlib import Path

import nbformat
import pytest

from course_instructor import format as fmt
from course_instructor import release
from course_instructor.cli import main

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(__file__).parent / "fixtures" / "grading" / "source.ipynb"


@pytest.fixture
def labs(tmp_path):
    folder = tmp_path / "labs"
    folder.mkdir()
    shutil.copy(SOURCE, folder / "01_fixture.ipynb")
    return folder


@pytest.fixture(autouse=True)
def default_repository(monkeypatch):
    monkeypatch.delenv(release.REPO_ENV, raising=False)
    monkeypatch.delenv(release.REF_ENV, raising=False)


def released():
    return release.release_notebook(fmt.read_notebook(SOURCE), "01_fixture.ipynb")


def test_released_notebook_hides_solutions_and_hidden_checks():
    nb = released()
    text = "\n".join(fmt.source_text(c) for c in nb.cells)
    for secret in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "np.maximum(np.asarray",
                   "1000.0", "3 * 4 + 4", "logits.max(axis=1"):
        assert secret not in text, secret
    answers = [c for c in nb.cells if fmt.cell_kind(c) == "answer"]
    assert len(answers) == 3
    assert all("# YOUR CODE HERE" in c.source and release.STUB_LINES[1] in c.source
               for c in answers)
    assert answers[0].source.startswith('def relu(x):\n    """Returns max(x, 0)')
    checks = [c for c in nb.cells if fmt.cell_kind(c) == "check"]
    assert fmt.HIDDEN_NOTE in checks[0].source and 'name="relu([-1, 2])"' in checks[0].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        if fmt.nbgrader_meta(cell).get("locked"):
            assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
    nbformat.validate(nb)
    def ids(notebook):
        return [(q.answer_id, q.check_ids, q.points) for q in fmt.list_questions(notebook)]
    assert ids(nb) == ids(fmt.read_notebook(SOURCE))


def test_first_cells_are_the_colab_badge_and_setup():
    nb = released()
    badge, setup = nb.cells[0], nb.cells[1]
    url = ("https://colab.research.google.com/github/dl-vision-course/course_lib/blob/"
           f"{release.RELEASE_REF}/colab/01_fixture.ipynb")
    assert badge.cell_type == "markdown" and f"]({url})" in badge.source
    assert setup.cell_type == "code" and "MOUNT_DRIVE = False" in setup.source
    assert nb.metadata[fmt.OUR_KEY] == {"released_from": "labs/01_fixture.ipynb",
                                        "ref": release.RELEASE_REF,
                                        "cells_sha256": release.cells_hash(nb)}
    assert set(nb.metadata) == {"kernelspec", "language_info", fmt.OUR_KEY}


def run_setup(monkeypatch, colab, mount=False, drive_folder=None, version="0.0.0-old",
              fresh_env=True, missing=()):
    calls, mounted = [], []
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):  # `missing` are not installed, importlib_resources is
        if name in missing:
            return None
        if name == "importlib_resources":
            return real_find_spec("importlib")
        return real_find_spec(name, *args)

    monkeypatch.setattr("importlib.util.find_spec", find_spec)
    import subprocess
    real_run = subprocess.run

    def fake_run(cmd, *args, **kwargs):  # pip installs are recorded, not run
        if list(cmd[1:3]) == ["-m", "pip"]:
            return calls.append(cmd)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr("subprocess.run", fake_run)
    if colab:
        drive = types.SimpleNamespace(mount=mounted.append)
        import google  # the real namespace package (protobuf lives there too)  # noqa: F401
        monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(drive=drive))
        monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
        monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr("importlib.metadata.version", lambda name: version)
    code = release.setup_cell_source()
    if mount:
        code = code.replace("MOUNT_DRIVE = False", "MOUNT_DRIVE = True")
    if drive_folder:
        code = code.replace(repr(release.DRIVE_FOLDER), repr(str(drive_folder)))
    for variable in release.DRIVE_CACHES if fresh_env else ():
        monkeypatch.setenv(variable, str(Path(tempfile.gettempdir()) / "release_test_unchanged"))
    exec(compile(code, "setup", "exec"), {})
    return calls, mounted


def test_setup_cell_does_nothing_outside_colab(monkeypatch, capsys):
    calls, mounted = run_setup(monkeypatch, colab=False, mount=True)
    assert calls == [] and mounted == []
    assert "Not on Colab: nothing to install" in capsys.readouterr().out


def test_setup_cell_on_colab_installs_course_lib_only(monkeypatch, capsys):
    calls, mounted = run_setup(monkeypatch, colab=True)
    assert mounted == []
    assert len(calls) == 1      # numpy, matplotlib, PIL, tqdm are all importable here
    command = calls[0]
    assert command[1:5] == ["-m", "pip", "install", "--quiet"] and "--no-deps" in command
    assert command[-1] == ("course_lib @ git+https://github.com/dl-vision-course/course_lib.git@"
                           + release.RELEASE_REF)
    assert not any("tensorflow" in part or "keras" in part for part in command)
    assert "Colab is ready: course_lib 0.0.0-old, TensorFlow 2." in capsys.readouterr().out


def test_setup_cell_checks_tensorflow_first(monkeypatch):
    # Colab's TPU runtimes ship no TensorFlow: say what to do before installing anything.
    with pytest.raises(RuntimeError, match=r"no TensorFlow \(Colab's TPU runtimes.*Change runtime "
                                           r"type > T4 GPU"):
        run_setup(monkeypatch, colab=True, missing=("tensorflow",))


def test_setup_cell_prints_versions_and_the_device(monkeypatch, capsys):
    import keras
    import tensorflow as tf
    run_setup(monkeypatch, colab=True)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"TensorFlow {tf.__version__}, Keras {keras.__version__}, " in line
    assert ("GPU: " in line) == bool(tf.config.list_physical_devices("GPU"))


def test_mount_drive_keeps_every_download_cache_on_drive_and_runs_twice(monkeypatch, capsys,
                                                                       tmp_path):
    drive_folder = tmp_path / "MyDrive" / "course_lib"
    monkeypatch.delitem(sys.modules, "tensorflow_datasets", raising=False)
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    calls, mounted = run_setup(monkeypatch, colab=True, mount=True, drive_folder=drive_folder)
    assert mounted == ["/content/drive"]
    expected = {"COURSE_LIB_CACHE": "cache", "TFDS_DATA_DIR": "tensorflow_datasets",
                "KERAS_HOME": "keras", "KAGGLEHUB_CACHE": "kagglehub"}
    for variable, folder in expected.items():
        assert os.environ[variable] == str(drive_folder / folder)
        assert (drive_folder / folder).is_dir()
    out = capsys.readouterr().out
    assert f"Downloads are kept in {drive_folder}" in out and "Restart session" not in out
    # Run again (same session, course_lib now at the release's version): nothing installed,
    # nothing to restart, the same folders.
    calls, mounted = run_setup(monkeypatch, colab=True, mount=True, drive_folder=drive_folder,
                               version=release.release_ref().removeprefix("v"), fresh_env=False)
    assert calls == [] and mounted == ["/content/drive"]
    assert os.environ["KERAS_HOME"] == str(drive_folder / "keras")
    assert "Restart session" not in capsys.readouterr().out


def test_mount_drive_after_keras_was_imported_asks_for_a_restart(monkeypatch, capsys, tmp_path):
    import keras  # noqa: F401  (imported before the cell: Keras keeps its old KERAS_HOME)
    run_setup(monkeypatch, colab=True, mount=True, drive_folder=tmp_path / "d")
    assert "keras were imported before this cell" in capsys.readouterr().out


def test_the_kagglehub_variable_is_the_one_kagglehub_reads():
    kagglehub_config = pytest.importorskip("kagglehub.config")
    assert kagglehub_config.CACHE_FOLDER_ENV_VAR_NAME in release.DRIVE_CACHES
    tfds_constants = pytest.importorskip("tensorflow_datasets.core.constants")
    import inspect
    assert "TFDS_DATA_DIR" in inspect.getsource(tfds_constants.get_default_data_dir)


def test_setup_cell_installs_missing_light_dependencies(monkeypatch):
    calls, _ = run_setup(monkeypatch, colab=True, missing=("tqdm",))
    assert calls[0][-1:] == ["tqdm>=4.60"] and "--no-deps" not in calls[0]


def test_setup_cell_installs_what_tensorflow_datasets_needs_to_download(monkeypatch):
    # tensorflow-datasets 4.9.10 imports importlib_resources to download, without declaring it.
    calls, _ = run_setup(monkeypatch, colab=True, missing=("importlib_resources",))
    assert calls[0][-1:] == ["importlib_resources>=5"]


def test_light_dependencies_match_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = sorted(config["project"]["dependencies"])
    assert sorted(release.LIGHT_DEPENDENCIES.values()) == declared


def test_repository_and_ref_overrides(monkeypatch):
    assert release.pip_requirement(repo_url="https://github.com/me/labs.git", ref="main") == \
        "course_lib @ git+https://github.com/me/labs.git@main"
    monkeypatch.setenv(release.REPO_ENV, "https://github.com/env/repo")
    monkeypatch.setenv(release.REF_ENV, "v9")
    assert release.colab_url("a.ipynb") == \
        "https://colab.research.google.com/github/env/repo/blob/v9/colab/a.ipynb"
    with pytest.raises(ValueError, match="should be a GitHub URL"):
        release.repository_url("https://gitlab.com/me/labs")
    with pytest.raises(ValueError, match="should be a git tag, branch or commit"):
        release.release_ref("v1; rm -rf /")


def test_release_is_deterministic_and_detects_staleness(labs, tmp_path):
    out = tmp_path / "colab"
    first = release.release_labs(labs, out)
    assert first.written == [str(out / "01_fixture.ipynb")]
    content = (out / "01_fixture.ipynb").read_bytes()
    second = release.release_labs(labs, out)
    assert second.written == [] and second.unchanged == [str(out / "01_fixture.ipynb")]
    assert (out / "01_fixture.ipynb").read_bytes() == content
    assert release.release_labs(labs, out, check=True).ok
    nb = fmt.read_notebook(labs / "01_fixture.ipynb")
    nb.cells[0].source += " (edited)"
    nbformat.write(nb, labs / "01_fixture.ipynb")
    stale = release.release_labs(labs, out, check=True)
    assert not stale.ok and stale.stale == [str(out / "01_fixture.ipynb")]
    assert "stale: " in str(stale) and "course-lib release" in str(stale)
    assert release.release_labs(labs, out, repo_url="https://github.com/a/b", check=True).stale


def test_release_removes_generated_orphans_only(labs, tmp_path):
    out = tmp_path / "colab"
    release.release_labs(labs, out)
    shutil.copy(out / "01_fixture.ipynb", out / "00_old.ipynb")
    (out / "notes.ipynb").write_text("{}")
    check = release.release_labs(labs, out, check=True)
    assert check.stale == [str(out / "00_old.ipynb"), str(out / "notes.ipynb")]
    report = release.release_labs(labs, out)
    assert report.removed == [str(out / "00_old.ipynb")]
    assert (out / "notes.ipynb").exists()


def test_release_errors(tmp_path, labs):
    with pytest.raises(ValueError, match="holds no notebook"):
        release.release_labs(tmp_path / "empty", tmp_path / "colab")
    nb = fmt.read_notebook(labs / "01_fixture.ipynb")
    nb.cells[3].source = "def relu(x):\n    return x"
    with pytest.raises(ValueError, match="cannot be released until its format problems are fixed"):
        release.release_notebook(nb, "01_fixture.ipynb")


def test_colab_links_markdown(labs):
    table = release.colab_links_markdown(labs)
    lines = table.splitlines()
    assert lines[0] == "| lab | student notebook |"
    assert lines[2].startswith("| Grading fixture | [![Open In Colab]")
    assert "/colab/01_fixture.ipynb)" in lines[2]


def test_cli_release_and_links(labs, tmp_path, capsys):
    out = tmp_path / "colab"
    assert main(["release", str(labs), str(out), "--check"]) == 1
    assert "stale:" in capsys.readouterr().out
    assert main(["release", str(labs), str(out)]) == 0
    assert main(["release", str(labs), str(out), "--check"]) == 0
    assert main(["release", str(labs), str(out), "--check", "--ref", "v2"]) == 1
    assert main(["release", str(tmp_path / "none"), str(out)]) == 2
    capsys.readouterr()
    assert main(["links", str(labs)]) == 0
    assert "Open In Colab" in capsys.readouterr().out


def test_the_stub_says_what_to_do_and_run_all_goes_on(tmp_path):
    nb = released()
    answer = next(c for c in nb.cells if fmt.cell_kind(c) == "answer")
    namespace = {}
    exec(compile(answer.source, "answer", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"^Not answered yet: replace this line with "
                                                  r"your code$"):
        namespace["relu"]([1.0])
    # Jupyter's Run All goes on past an error in a cell tagged raises-exception: every answer
    # and check cell (no later cell uses an answer), no other cell.
    for cell in nb.cells:
        tagged = release.RAISES_TAG in cell.metadata.get("tags", [])
        assert tagged == (fmt.cell_kind(cell) in ("answer", "check")), cell.source[:40]
    assert "tags" not in fmt.read_notebook(SOURCE).cells[3].metadata   # the source is untouched


# nbgrader 0.9.6's compute_checksum (nbgrader/utils.py) on these cells, computed with nbgrader.
NBGRADER_CHECKSUMS = [
    ("code", "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
     {"grade": False, "solution": True, "locked": False, "grade_id": "q1"},
     "09b05939f3bcf7407d22d93fc2bcbfc6"),
    ("code", 'check_equal(f(1), 2, name="f(1)")\n# Hidden checks also run here.',
     {"grade": True, "solution": False, "locked": True, "grade_id": "q1_check", "points": 2},
     "72aa91e58191ea145f68c1a97e98fb74"),
    ("markdown", "Explain \u2014 \u00e9.",
     {"grade": True, "solution": True, "locked": False, "grade_id": "q2", "points": 1.5},
     "6735dd440161d207e5305e7f0aed61b5"),
    ("code", "import numpy as np",
     {"grade": False, "solution": False, "locked": True, "grade_id": "setup"},
     "349b3297aacb5fd09d22117940a10469"),
]


@pytest.mark.parametrize("cell_type, source, meta, expected", NBGRADER_CHECKSUMS)
def test_nbgrader_checksum_is_nbgraders(cell_type, source, meta, expected):
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source, metadata={"nbgrader": dict(meta, schema_version=3)})
    assert release.nbgrader_checksum(cell) == expected


def test_released_cells_carry_valid_nbgrader_checksums():
    # nbgrader validate / autograde recompute the checksum of each locked cell and warn when it
    # differs from the one in the metadata: the release writes the released text's checksum.
    nb = released()
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
    assert len(graded) == len([c for c in fmt.read_notebook(SOURCE).cells
                               if c.metadata.get("nbgrader", {}).get("grade_id")])
    for cell in graded:
        meta = cell.metadata["nbgrader"]
        assert meta["checksum"] == release.nbgrader_checksum(cell), meta["grade_id"]
        assert meta["cell_type"] == cell.cell_type
    check = next(c for c in graded if fmt.cell_kind(c) == "check")
    check.source += "\nprint('edited')"      # an edited locked cell no longer matches
    assert check.metadata["nbgrader"]["checksum"] != release.nbgrader_checksum(check)


def _run_the_notebook(path):
    nb = fmt.read_notebook(path)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello\n")]   # the setup cell
    nb.cells[1].execution_count = 1
    nbformat.write(nb, path)


def test_release_never_overwrites_a_students_work(labs, tmp_path):
    out = tmp_path / "colab"
    release.release_labs(labs, out)
    target = out / "01_fixture.ipynb"
    assert release.student_work(fmt.read_notebook(target)) == ""
    _run_the_notebook(target)                              # a student ran it in the clone
    worked = target.read_bytes()
    check = release.release_labs(labs, out, check=True)
    assert not check.ok and check.stale == [str(target)] and str(target) in check.kept
    advice = str(check)
    assert "holds outputs" in advice and "`course-lib release` keeps it" in advice
    assert "--force" in advice and "run `course-lib release` and commit" not in advice
    report = release.release_labs(labs, out)
    assert report.written == [] and report.kept == {str(target): "outputs"} and not report.ok
    assert target.read_bytes() == worked and "kept: " in str(report)
    # Edited cells without outputs are work too.
    nb = fmt.read_notebook(target)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells[4].source += "\n# my answer"
    nbformat.write(nb, target)
    assert release.student_work(fmt.read_notebook(target)) == "cells edited since the release"
    assert release.release_labs(labs, out).kept
    # An orphan holding work is not removed either.
    shutil.copy(target, out / "00_old.ipynb")
    assert str(out / "00_old.ipynb") in release.release_labs(labs, out).kept
    assert (out / "00_old.ipynb").exists()
    forced = release.release_labs(labs, out, force=True)
    assert forced.written == [str(target)] and forced.removed == [str(out / "00_old.ipynb")]
    assert release.release_labs(labs, out, check=True).ok


def test_release_report_verbs(labs, tmp_path):
    out = tmp_path / "colab"
    assert str(release.release_labs(labs, out)) == "wrote 1 student notebook(s), 0 unchanged"
    assert str(release.release_labs(labs, out, check=True)) == "1 student notebook(s) up to date"


def test_cli_release_force_and_student_tree(labs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "colab"
    assert main(["release", str(labs), str(out)]) == 0
    _run_the_notebook(out / "01_fixture.ipynb")
    assert main(["release", str(labs), str(out)]) == 1
    assert "kept: " in capsys.readouterr().out
    assert main(["release", str(labs), str(out), "--force"]) == 0
    monkeypatch.chdir(ROOT)
    tree = tmp_path / "student"
    assert main(["release", str(labs), "--student-tree", str(tree)]) == 0
    assert "student tree" in capsys.readouterr().out
    assert (tree / "colab" / "01_fixture.ipynb").exists() and (tree / "course_lib").is_dir()
    assert not (tree / "labs").exists() and not (tree / "instructor").exists()
    (tree / "labs").mkdir()
    with pytest.raises(ValueError, match="is or holds the instructor repository"):
        release.build_student_tree(tree, labs, root=ROOT)
    with pytest.raises(ValueError, match="is or holds the instructor repository"):
        release.build_student_tree(ROOT, labs, root=ROOT)
