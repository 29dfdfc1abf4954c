"""CI checks of the real labs: lint, colab/ in sync, every exercise fails when stubbed.

nbval (the `labs` testpath) already runs each source lab with its solutions; `verify_lab`
(instructor/course_instructor/verify.py) runs one small real lab through the grading
pipeline (fast mode, set by conftest.py), and the fixtures' edge cases.
"""

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_instructor import format as fmt
from course_instructor.release import release_labs
from course_instructor.verify import verify_lab

ROOT = Path(__file__).resolve().parent.parent
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
GRADED_LABS = [lab for lab in LABS if fmt.list_questions(fmt.read_notebook(lab))]
FIXTURE = Path(__file__).parent / "fixtures" / "grading" / "source.ipynb"


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_lab_format(lab):
    problems = fmt.lint_notebook(lab)
    assert not problems, "\n".join(str(p) for p in problems)


def test_colab_release_is_in_sync_with_labs(monkeypatch):
    if not LABS:
        pytest.skip("no lab yet")
    monkeypatch.delenv("COURSE_LIB_REPO_URL", raising=False)
    monkeypatch.delenv("COURSE_LIB_RELEASE_REF", raising=False)
    report = release_labs(ROOT / "labs", ROOT / "colab", check=True)
    assert report.ok, f"{report}\nRun `course-lib release` and commit colab/."


def test_verify_one_small_real_lab():
    lab = ROOT / "labs" / "00_prepare_data.ipynb"
    if lab not in GRADED_LABS:
        pytest.skip("lab 00 has no graded question")
    problems = verify_lab(lab, cell_timeout=300)
    assert not problems, "\n".join(problems)


def test_verify_lab_on_the_fixture():
    assert verify_lab(FIXTURE, cell_timeout=60) == []


def meta(gid, kind, **extra):
    if kind == "answer":
        return {"nbgrader": {"grade_id": gid, "schema_version": 3, "task": False,
                             "grade": False, "solution": True, "locked": False}, **extra}
    return {"nbgrader": {"grade_id": gid, "schema_version": 3, "task": False, "points": 1,
                         "grade": True, "solution": False, "locked": True}}


def test_verify_lab_finds_weak_checks_and_dependent_cells(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("from course_lib.checks import check_equal, check_true"),
        new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION",
                      metadata=meta("q1", "answer")),
        new_code_cell("check_true(callable(f), 'f is a function')", metadata=meta("q1_check", "check")),
        new_code_cell("y = f(3)   # uses the student's answer"),
        new_code_cell("# BEGIN SOLUTION\nz = 4\n# END SOLUTION", metadata=meta("q2", "answer")),
        new_code_cell("check_equal(z, 4)\n# BEGIN HIDDEN TESTS\ncheck_equal(z + 1, 5)\n"
                      "# END HIDDEN TESTS", metadata=meta("q2_check", "check")),
        new_code_cell("check_equal(f(1), 3)", metadata=meta("q2_wrong_check", "check")),
    ])
    path = tmp_path / "weak.ipynb"
    nbformat.write(nb, path)
    problems = verify_lab(path, cell_timeout=60)
    assert any("cell 6 ('q2_wrong_check'): the reference solution fails its own check: "
               "value: expected 3, got 2" in p for p in problems), problems
    # The reference failing stops there; fix it and look at the rest.
    nb.cells[6].source = "check_equal(f(1), 2)"
    nbformat.write(nb, path)
    problems = verify_lab(path, cell_timeout=60)
    assert any("cell 2 ('q1_check'): the released notebook (every answer a stub) scores 1" in p
               for p in problems), problems
    assert any("cell 2 ('q1_check'): passes with the stub of 'q1'" in p for p in problems)
    assert any("cell 3: fails when the answers above are stubs (cell 3 raised NotImplementedError"
               in p for p in problems)
    assert any("cell 6 ('q2_wrong_check'): passes with the stub of 'q2'" in p for p in problems)
    assert not any("'q2_check'" in p for p in problems)     # z is removed before the stub runs


def test_verify_lab_runs_from_scratch_questions_without_their_references(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("import numpy as np\nfrom course_lib.checks import check_close\n"
                      "from course_lib.metrics import box_iou"),
        new_code_cell("def iou(a, b):\n    # BEGIN SOLUTION\n    return box_iou(a, b)\n"
                      "    # END SOLUTION",
                      metadata=meta("q1", "answer",
                                    course_lib={"forbidden": ["course_lib.metrics.box_iou"]})),
        new_code_cell("a = np.array([[0.0, 0.0, 2.0, 2.0]])\n"
                      "check_close(iou(a, a + 1), box_iou(a, a + 1))", metadata=meta("q1_check", "check")),
    ])
    path = tmp_path / "scratch.ipynb"
    nbformat.write(nb, path)
    problems = verify_lab(path, cell_timeout=60)
    assert any("cell 2 ('q1_check'): the solution, graded as a submission, scores 0/1: "
               "Scored 0: this question is to be answered from scratch, without "
               "course_lib.metrics.box_iou" in p for p in problems), problems


def test_verify_lab_rejects_a_lab_that_fails_the_lint(tmp_path):
    nb = fmt.read_notebook(FIXTURE)
    nb.cells[4].metadata["nbgrader"]["points"] = 0
    nbformat.write(nb, tmp_path / "bad.ipynb")
    with pytest.raises(ValueError, match="has format problems; fix them first"):
        verify_lab(tmp_path / "bad.ipynb")


@pytest.mark.parametrize("lab_name, question, reference", [
    ("04_detection", "q1_iou", "course_lib.metrics.boxes.box_iou"),
    ("04_detection", "q2_nms", "course_lib.metrics.boxes.non_max_suppression"),
    ("04_detection", "q4_quantization_shift", "course_lib.models.rcnn.quantize_box"),
])
def test_from_scratch_questions_forbid_the_library_function_they_rebuild(lab_name, question, reference):
    # Without the name, an answer that calls the library scores full marks (lab 04's IoU and NMS did).
    notebook = fmt.read_notebook(ROOT / "labs" / f"{lab_name}.ipynb")
    answers = [cell for cell in notebook.cells
               if cell.metadata.get("nbgrader", {}).get("grade_id") == question]
    assert len(answers) == 1
    assert reference in answers[0].metadata.get("course_lib", {}).get("forbidden", [])
