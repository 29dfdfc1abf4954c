"""Adversarial submissions against tests/fixtures/grading/attacks.ipynb (NumPy only).

The fixture has 4 questions worth 6 points: q1_iou (2, from scratch: box_iou is
forbidden), q2_scale (2, a hidden check on an instructor global), q3_total (1, a
scalar), q4_squares (1, a hidden loop over the returned list). Each attack below
cheats on some questions and answers the others honestly; the grader must give
exactly the honest points, and no feedback or results file may hold a hidden
check's names, hints or expected values.

All submissions are graded in one `grade_submissions` call (one reference run).
They run without the OS sandbox (`sandbox=False`): what is tested here is the
judging, which does not depend on it; escapes from the kernel are
tests/test_grading_sandbox.py's.
"""

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from course_instructor import format as fmt
from course_instructor import grade
from course_instructor.release import notebook_bytes, release_notebook

SOURCE = Path(__file__).parent / "fixtures" / "grading" / "attacks.ipynb"
POINTS = {"q1_iou": 2, "q2_scale": 2, "q3_total": 1, "q4_squares": 1}

IOU = ("def my_iou(box_a, box_b):\n"
       "    x1, y1 = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])\n"
       "    x2, y2 = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])\n"
       "    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)\n"
       "    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])\n"
       "    return inter / (area(box_a) + area(box_b) - inter)")
HONEST = {
    "q1_iou": IOU,
    "q2_scale": "def scale(x):\n    return 2.5 * np.asarray(x, dtype=float)",
    "q3_total": "def total(x):\n    return float(np.sum(x))",
    "q4_squares": "def squares(n):\n    return [i * i for i in range(n)]",
}

# Reads the caller's frames (and every module's globals) for anything named like an expected value.
WALKER = '''
import sys as _s
def _steal(default):
    frame = _s._getframe(1)
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for key in ("exp" + "ected", "want", "target"):
                if key in scope and key != "default":
                    return scope[key]
        frame = frame.f_back
    for module in list(_s.modules.values()):
        for key in ("_expected", "expected", "_last_expected"):
            if hasattr(module, key):
                return getattr(module, key)
    return default
'''

ATTACKS = {
    # Reading the expected value from inside the student's function, or from a lazy value object.
    "frames_in_function": {"q2_scale": WALKER + "def scale(x):\n    return _steal(3 * np.asarray(x, float))"},
    "lazy_numpy": {"q2_scale": WALKER + (
        "class Lazy:\n    def numpy(self):\n        return _steal(np.zeros((1, 2)))\n"
        "def scale(x):\n    return Lazy()")},
    "lazy_array_float": {
        "q2_scale": WALKER + ("class Lazy:\n    def __array__(self, dtype=None, copy=None):\n"
                              "        return np.asarray(_steal(np.zeros((1, 2))), dtype=dtype)\n"
                              "def scale(x):\n    return Lazy()"),
        "q3_total": WALKER + ("class Lazy:\n    def __float__(self):\n        return float(_steal(0.0))\n"
                              "def total(x):\n    return Lazy()")},
    # Making the reference agree with the answer.
    "rebind_globals": {
        "q2_scale": "FACTOR = 1.0\ndef scale(x):\n    return 1.0 * np.asarray(x, float)",
        "q1_iou": ("import course_lib.metrics.detection as m\n"
                   "[m][0].box_iou = lambda a, b, **k: np.zeros((1, 1))\n"
                   "box_iou = lambda a, b, **k: np.zeros((1, 1))\n"
                   "def my_iou(a, b):\n    return 0.0 if a[0] > 0.5 else 1 / 7")},
    # From scratch: reaching the forbidden reference, whatever the alias.
    "scratch_alias": {"q1_iou": ("from course_lib.metrics.detection import box_iou as iou_ref\n"
                                 "def my_iou(a, b):\n    return iou_ref(np.asarray([a], float), "
                                 "np.asarray([b], float))[0, 0]")},
    "scratch_getattr": {"q1_iou": (
        "import importlib\nref = getattr(importlib.import_module('course_lib.' + 'metrics'), "
        "'box' + '_iou')\n"
        "def my_iou(a, b):\n    return ref(np.asarray([a], float), np.asarray([b], float))[0, 0]")},
    "scratch_lazy_export": {"q1_iou": (
        "import course_lib\n"
        "def my_iou(a, b):\n    return course_lib.box_iou(np.asarray([a], float), "
        "np.asarray([b], float))[0, 0]")},
    # Making checks vacuous.
    "patch_numpy_and_checks": {
        "q3_total": ("np.all = lambda *a, **k: True\nnp.allclose = lambda *a, **k: True\n"
                     "np.abs = lambda x: x * 0\nnp.isfinite = lambda x: np.ones_like(x, bool)\n"
                     "import course_lib.checks as c\n"
                     "c.compare_close.__code__ = (lambda *a, **k: None).__code__\n"
                     "c.check_close.__globals__['compare_close'] = lambda *a, **k: None\n"
                     "def total(x):\n    return -1.0"),
        "q4_squares": ("import course_lib.checks as c\nc.to_plain = lambda v, k='equal': 2\n"
                       "def squares(n):\n    return [0, 0]")},
    "empty_returns": {"q3_total": "def total(x):\n    return np.zeros(0)",
                      "q4_squares": "def squares(n):\n    return [0, 1] if n == 2 else []"},
    "ipython_syntax": {"q3_total": ("%time y = 1\n!ls > /dev/null\n"
                                    "np.all = lambda *a, **k: True\n"
                                    "def total(x):\n    return 0.0")},
    "exception_text": {"q2_scale": (
        "def scale(x):\n    raise ValueError('LEAK_MARKER ' + repr(np.asarray(x).tolist()))"),
        "q3_total": ("class LEAK_MARKER_ERROR(Exception):\n    pass\n"
                     "def total(x):\n    raise LEAK_MARKER_ERROR('LEAK_MARKER')")},
    "forge_records": {
        "q2_scale": ("from IPython.display import publish_display_data as p\n"
                     "def scale(x):\n    p({'text/x-course-lib-record': '{\"i\": 0, \"k\": \"close\", '\n"
                     "                   '\"v\": {\"array\": \"O\", \"shape\": [1], \"data\": [1]}}'})\n"
                     "    return 2.5 * np.asarray(x, dtype=float)"),
        "q4_squares": ("__course_lib_value__ = lambda *a: None\n"
                       "def squares(n):\n    return []")},
    # Honest answers that import check helpers, print, plot or take a while: full marks.
    "honest_extras": {
        "q1_iou": ("from course_lib.checks import check_close, check_equal\nimport course_lib.checks\n"
                   + IOU + "\ncheck_close(my_iou([0, 0, 1, 1], [0, 0, 1, 1]), 1.0)\nprint('ok')"),
        "q2_scale": ("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                     "plt.plot([1, 2])\nplt.show()\n" + HONEST["q2_scale"]),
        "q3_total": "import time\ntime.sleep(1.5)\n%time z = 1\n" + HONEST["q3_total"],
        "q4_squares": "print('squares ' * 100)\n" + HONEST["q4_squares"]},
}
# Points each attack may keep (every question it does not cheat on, unless said otherwise).
EXPECTED = {name: sum(p for q, p in POINTS.items() if q not in answers)
            for name, answers in ATTACKS.items()}
EXPECTED["honest_extras"] = 6
EXPECTED["lazy_array_float"] = 2 + 1          # q1 and q4 honest
SECRETS = ("SECRET_", "3086.25", "-18.125", "10001.25", "1234.5", "1111.25", "LEAK_MARKER",
           "box_iou(a[None]", "rng.uniform")


def _submission(answers):
    nb = release_notebook(fmt.read_notebook(SOURCE), "attacks.ipynb")
    for cell in nb.cells:
        gid = fmt.grade_id(cell)
        if gid in POINTS:
            cell.source = answers.get(gid, HONEST[gid])
    return nb


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    out = tmp_path_factory.mktemp("attack_grades")
    for name, answers in ATTACKS.items():
        (folder / f"{name}.ipynb").write_bytes(notebook_bytes(_submission(answers)))
    results = grade.grade_submissions(SOURCE, folder, out=out, cell_timeout=30, sandbox=False)
    return {r.student: r for r in results}, out


def test_no_undeserved_points(attacked):
    results, _ = attacked
    assert {name: r.score for name, r in results.items()} == EXPECTED


def test_from_scratch_reason_names_the_reference(attacked):
    results, _ = attacked
    for name in ("scratch_alias", "scratch_getattr", "scratch_lazy_export"):
        output = next(t["output"] for t in results[name].tests if t["name"] == "q1_iou_check")
        assert "from scratch, without course_lib.metrics.detection.box_iou" in output, output
        assert "whatever alias it uses" in output


def test_feedback_names_the_failure_without_the_hidden_check(attacked):
    results, _ = attacked
    tests = {t["name"]: t["output"] for t in results["exception_text"].tests}
    assert tests["q2_scale_check"].startswith("ValueError raised while running the visible checks")
    assert tests["q3_total_check"].startswith("an exception raised")      # not the class's name
    tests = {t["name"]: t["output"] for t in results["empty_returns"].tests}
    assert tests["q3_total_check"].startswith("total([0, 1, 2, 3]): expected a number, got an empty")
    assert tests["q4_squares_check"].startswith("A hidden check failed (wrong result)")
    tests = {t["name"]: t["output"] for t in results["rebind_globals"].tests}
    assert tests["q2_scale_check"].startswith("scale([0, 1, 2]): differs from the expected values")


def test_no_secret_in_any_feedback_or_file(attacked):
    results, out = attacked
    texts = [json.dumps(r.to_dict()) for r in results.values()]
    texts += [path.read_text() for path in out.rglob("*") if path.is_file()]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, secret


def test_from_scratch_in_the_sandbox_reaches_only_the_poisoned_copy(tmp_path):
    # In the OS sandbox the poisoned copy is mounted where course_lib was: loading the
    # reference from its real file path finds the poisoned one too.
    from course_instructor.sandbox import SandboxUnavailableError, find_bwrap
    try:
        find_bwrap()
    except SandboxUnavailableError as error:
        pytest.skip(f"no sandbox here: {error}")
    real_file = Path(__import__("course_lib.metrics.detection").metrics.detection.__file__)
    by_path = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('fresh_detection', {str(real_file)!r})\n"
        "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\n"
        "def my_iou(a, b):\n    return module.box_iou(np.asarray([a], float), "
        "np.asarray([b], float))[0, 0]")
    for name, answers in (("by_path", {"q1_iou": by_path}), ("honest", {})):
        (tmp_path / f"{name}.ipynb").write_bytes(notebook_bytes(_submission(answers)))
    results = {r.student: r for r in grade.grade_submissions(SOURCE, tmp_path, cell_timeout=60)}
    assert {name: r.score for name, r in results.items()} == {"by_path": 4, "honest": 6}
    output = next(t["output"] for t in results["by_path"].tests if t["name"] == "q1_iou_check")
    assert "from scratch, without course_lib.metrics.detection.box_iou" in output, output


def test_several_from_scratch_questions_share_one_poisoned_run(tmp_path, monkeypatch):
    from nbformat.v4 import new_code_cell, new_notebook

    def meta(gid, kind, forbidden=None):
        if kind == "answer":
            return {"nbgrader": {"grade_id": gid, "schema_version": 3, "task": False,
                                 "grade": False, "solution": True, "locked": False},
                    "course_lib": {"forbidden": forbidden}}
        return {"nbgrader": {"grade_id": gid, "schema_version": 3, "task": False, "points": 1,
                             "grade": True, "solution": False, "locked": True}}
    source = new_notebook(cells=[
        new_code_cell("import numpy as np\nfrom course_lib.checks import check_close\n"
                      "from course_lib.metrics import box_iou, pixel_accuracy"),
        new_code_cell("def area(b):\n    # BEGIN SOLUTION\n    return (b[2] - b[0]) * (b[3] - b[1])\n"
                      "    # END SOLUTION",
                      metadata=meta("q1", "answer", ["course_lib.metrics.detection.box_iou"])),
        new_code_cell("check_close(area([0, 0, 2, 3]), 6.0)", metadata=meta("q1_check", "check")),
        new_code_cell("def accuracy(a, b):\n    # BEGIN SOLUTION\n"
                      "    return float(np.mean(np.asarray(a) == np.asarray(b)))\n    # END SOLUTION",
                      metadata=meta("q2", "answer", ["course_lib.metrics.pixel_accuracy"])),
        new_code_cell("check_close(accuracy([1, 2, 3], [1, 2, 0]), pixel_accuracy([1, 2, 3], [1, 2, 0], 4))",
                      metadata=meta("q2_check", "check")),
    ])
    path = tmp_path / "two.ipynb"
    path.write_bytes(notebook_bytes(source))
    folder = tmp_path / "subs"
    folder.mkdir()
    honest = release_notebook(source, "two.ipynb")
    cells = {fmt.grade_id(cell): cell for cell in honest.cells}
    cells["q1"].source = "def area(b):\n    return (b[2] - b[0]) * (b[3] - b[1])"
    cells["q2"].source = "def accuracy(a, b):\n    return 2 / 3"
    (folder / "honest.ipynb").write_bytes(notebook_bytes(honest))
    cells["q2"].source = ("import course_lib.metrics as m\n"
                          "def accuracy(a, b):\n    return m.pixel_accuracy(a, b, 4)")
    (folder / "cheat.ipynb").write_bytes(notebook_bytes(honest))
    runs = []
    real = grade._run_with_restarts

    def counted(*args, **kwargs):
        runs.append(kwargs.get("last_cell"))
        return real(*args, **kwargs)
    monkeypatch.setattr(grade, "_run_with_restarts", counted)
    results = {r.student: r for r in grade.grade_submissions(path, folder, cell_timeout=30,
                                                            sandbox=False)}
    assert {name: r.score for name, r in results.items()} == {"honest": 2, "cheat": 1}
    assert "without course_lib.metrics.pixel_accuracy" in results["cheat"].tests[1]["output"]
    # cheat: main run, both poisoned (q2 fails), q2 alone; honest: main run, both poisoned.
    assert runs == [None, 4, 4, None, 4]


# ---------------------------------------------------------------------------- the grader's own files

# These need no kernel: a small source (relu, softmax, params) whose submissions have no answer.
SMALL = Path(__file__).parent / "fixtures" / "grading" / "source.ipynb"


def _no_answers_notebook():
    """A valid submission with every answer cell removed: graded without starting a kernel."""
    nb = release_notebook(fmt.read_notebook(SMALL), "source.ipynb")
    nb.cells = [cell for cell in nb.cells
                if fmt.grade_id(cell) not in ("q1_relu", "q2_softmax", "q3_params")]
    return notebook_bytes(nb)


def test_links_devices_and_huge_files_are_per_student_errors_and_later_students_graded(
        tmp_path, monkeypatch):
    # Issue 22 item 7: a symlink to the instructor source was graded 13/13, one to /dev/zero
    # was read without end (the grader OOM-killed, every later student lost).
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "a_source_link.ipynb").symlink_to(SMALL)
    (folder / "b_zero_link.ipynb").symlink_to("/dev/zero")
    os.mkfifo(folder / "c_fifo.ipynb")
    (folder / "d_huge.ipynb").write_bytes(b" " * (grade.MAX_SUBMISSION_BYTES + 1))
    (folder / "e_deep.ipynb").write_text("[" * 100000 + "]" * 100000)
    (folder / "z_later.ipynb").write_bytes(_no_answers_notebook())
    monkeypatch.setattr(grade, "run_reference", lambda *a, **k: None)   # no kernel needed
    started = time.monotonic()
    results = {r.student: r for r in grade.grade_submissions(SMALL, folder, sandbox=False)}
    assert time.monotonic() - started < 60
    assert {name: (r.status, r.score) for name, r in results.items()} == {
        "a_source_link": ("malformed", 0), "b_zero_link": ("malformed", 0),
        "c_fifo": ("malformed", 0), "d_huge": ("malformed", 0), "e_deep": ("malformed", 0),
        "z_later": ("no answers", 0)}
    notes = {name: " ".join(r.notes) for name, r in results.items()}
    assert "is a symbolic link" in notes["a_source_link"] and "submit the notebook file" in notes["a_source_link"]
    assert "is a symbolic link" in notes["b_zero_link"]
    assert "not a regular file" in notes["c_fifo"]
    assert "larger than 64 MB" in notes["d_huge"]
    assert "nested too deeply" in notes["e_deep"]            # not "grader error"
    with pytest.raises(ValueError, match="nested too deeply"):
        fmt.read_notebook(folder / "e_deep.ipynb")


def test_two_notebooks_of_one_student_keep_both_results_under_distinct_names(tmp_path):
    # Issue 22 item 11: mallory/x.ipynb and mallory/sub/x.ipynb were both "mallory/x".
    for relative in ("mallory/x.ipynb", "mallory/sub/x.ipynb", "mallory/y.ipynb", "alice.ipynb",
                     "bob/lab.ipynb"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(_no_answers_notebook())
    names = [student for student, _ in grade.find_submissions(tmp_path)]
    assert sorted(names) == ["alice", "bob", "mallory/sub/x", "mallory/x", "mallory/y"]
    out = tmp_path.parent / f"{tmp_path.name}_out"
    results = grade.grade_submissions(SMALL, tmp_path, out=out, sandbox=False)
    assert len(results) == 5 and len({r.student for r in results}) == 5
    summary = json.loads((out / "results.json").read_text())
    assert len(summary["students"]) == 5
    assert len((out / "scores.csv").read_text().splitlines()) == 6


def _from_scratch_source(folder):
    from nbformat.v4 import new_code_cell, new_notebook
    answer = {"nbgrader": {"grade_id": "q1", "schema_version": 3, "task": False, "grade": False,
                           "solution": True, "locked": False},
              "course_lib": {"forbidden": ["course_lib.metrics.detection.box_iou"]}}
    check = {"nbgrader": {"grade_id": "q1_check", "schema_version": 3, "task": False,
                          "points": 1, "grade": True, "solution": False, "locked": True}}
    source = new_notebook(cells=[
        new_code_cell("import numpy as np\nfrom course_lib.checks import check_close"),
        new_code_cell("def area(b):\n    # BEGIN SOLUTION\n    return (b[2] - b[0]) * (b[3] - b[1])\n"
                      "    # END SOLUTION", metadata=answer),
        new_code_cell("check_close(area([0, 0, 2, 3]), 6.0)", metadata=check)])
    path = folder / "scratch.ipynb"
    path.write_bytes(notebook_bytes(source))
    submissions = folder / "subs"
    submissions.mkdir()
    honest = release_notebook(source, "scratch.ipynb")
    for cell in honest.cells:
        if fmt.grade_id(cell) == "q1":
            cell.source = "def area(b):\n    return (b[2] - b[0]) * (b[3] - b[1])"
    (submissions / "s.ipynb").write_bytes(notebook_bytes(honest))
    return path, submissions


@pytest.mark.parametrize("interrupt", [False, True])
def test_grading_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch, interrupt):
    # Issue 22 item 6: each graded submission left course-lib-forbidden-* folders behind; the
    # grader removes what it makes (re-run copies, kernels' HOMEs, run folders), also when
    # interrupted (Ctrl-C while the student's kernel runs).
    from course_instructor.sandbox import PlainKernel
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    source, submissions = _from_scratch_source(tmp_path)
    if interrupt:
        def interrupted(self, code, timeout):
            raise KeyboardInterrupt
        monkeypatch.setattr(PlainKernel, "run", interrupted, raising=False)
        with pytest.raises(KeyboardInterrupt):
            grade.grade_submissions(source, submissions, sandbox=False, cell_timeout=30)
    else:
        grade.grade_submissions(source, submissions, sandbox=False, cell_timeout=30)
    assert sorted(p.name for p in temporary.iterdir()) == []
