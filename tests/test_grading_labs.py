"""CI checks of the real labs: lint, colab/ in sync, every exercise fails when stubbed.

nbval (the `labs` testpath) already runs each source lab with its solutions and
fails on any failing check; `verify_lab` adds one kernel per lab that has graded
questions (fast mode, set by conftest.py), see instructor/course_instructor/verify.py.
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


@pytest.mark.parametrize("lab", GRADED_LABS, ids=[lab.name for lab in GRADED_LABS])
def test_every_exercise_fails_when_stubbed(lab):
    problems = verify_lab(lab, cell_timeout=300)
    assert not problems, "\n".join(problems)


def test_verify_lab_on_the_fixture():
    assert verify_lab(FIXTURE, cell_timeout=60) == []


def test_verify_lab_finds_weak_checks_and_dependent_cells(tmp_path):
    def meta(gid, kind):
        if kind == "answer":
            return {"nbgrader": {"grade_id": gid, "schema_version": 3, "task": False,
                                 "grade": False, "solution": True, "locked": False}}
        return {"nbgrader": {"grade_id": gid, "schema_version": 3, "task": False, "points": 1,
                             "grade": True, "solution": False, "locked": True}}
    nb = new_notebook(cells=[
        new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION",
                      metadata=meta("q1", "answer")),
        new_code_cell("assert callable(f)", metadata=meta("q1_check", "check")),
        new_code_cell("y = f(3)   # uses the student's answer"),
        new_code_cell("# BEGIN SOLUTION\nz = 4\n# END SOLUTION", metadata=meta("q2", "answer")),
        new_code_cell("assert z == 4\n# BEGIN HIDDEN TESTS\nassert z > 3\n# END HIDDEN TESTS",
                      metadata=meta("q2_check", "check")),
        new_code_cell("assert f(1) == 3", metadata=meta("q2_wrong_check", "check")),
    ])
    path = tmp_path / "weak.ipynb"
    nbformat.write(nb, path)
    problems = verify_lab(path, cell_timeout=60)
    assert any("cell 1 ('q1_check'): the released check passes with the stub of 'q1'" in p
               for p in problems), problems
    assert any("cell 1 ('q1_check'): passes with the stub of 'q1'" in p for p in problems)
    assert any("cell 2: fails when the answers above are stubs (NotImplementedError" in p
               for p in problems)
    assert any("cell 5 ('q2_wrong_check'): fails with the reference solution" in p for p in problems)
    assert not any("'q2_check'" in p for p in problems)     # z is removed before the stub runs
    assert len(problems) == 4


def test_verify_lab_rejects_a_lab_that_fails_the_lint(tmp_path):
    nb = fmt.read_notebook(FIXTURE)
    nb.cells[4].metadata["nbgrader"]["points"] = 0
    nbformat.write(nb, tmp_path / "bad.ipynb")
    with pytest.raises(ValueError, match="has format problems; fix them first"):
        verify_lab(tmp_path / "bad.ipynb")


def test_cells_to_run_skips_only_cells_that_cannot_see_an_answer():
    from course_instructor.verify import cells_to_run
    answer = {"nbgrader": {"grade_id": "q1", "schema_version": 3, "task": False,
                           "grade": False, "solution": True, "locked": False}}
    check = {"nbgrader": {"grade_id": "q1_check", "schema_version": 3, "task": False, "points": 1,
                          "grade": True, "solution": False, "locked": True}}
    nb = new_notebook(cells=[
        new_code_cell("import numpy as np\ndata = np.arange(4)"),                  # 0: check needs data
        new_code_cell("slow = train_for_an_hour()"),                                # 1: nobody needs it
        new_code_cell("model = make()"),                                            # 2: mutated by 4
        new_code_cell("def f(x, model=None):\n    model.fit(x)\n    # BEGIN SOLUTION\n"
                      "    return [v * 2 for v in x]\n    # END SOLUTION", metadata=answer),
        new_code_cell("model.fit(data)"),                                           # 4: 7 reads model
        new_code_cell("assert f(data)[1] == 2", metadata=check),
        new_code_cell("y = f(data)"),                                               # 6: uses the answer
        new_code_cell("print(model, y)"),                                           # 7: reads y (tainted)
        new_code_cell("%matplotlib inline\nprint(np.pi)"),                          # 8: magics stripped
        new_code_cell("for y in range(3):\n    print(y)"),                          # 9: rebinds y before reading it
        new_code_cell("def g():\n    y = 1\nprint(g, y)"),                          # 10: reads global y
    ])
    assert cells_to_run(nb) == {0, 2, 3, 4, 5, 6, 7, 9, 10}   # 9 binds the y that 10 reads
