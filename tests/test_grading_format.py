"""Graded-notebook format: markers, stubs, segments, questions and every lint message."""

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_instructor import format as fmt
from course_instructor.cli import main

SOURCE = Path(__file__).parent / "fixtures" / "grading" / "source.ipynb"


def meta(gid, kind, points=1, **extra):
    m = {"grade_id": gid, "schema_version": 3, "task": False}
    if kind == "answer":
        m.update(grade=False, solution=True, locked=False)
    elif kind == "check":
        m.update(grade=True, solution=False, locked=True, points=points)
    else:
        m.update(grade=False, solution=False, locked=True)
    m.update(extra)
    return {"nbgrader": m}


ANSWER = "def f(x):\n    \"\"\"Doubles x.\"\"\"\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION"
CHECK = "check_equal(f(2), 4)\n# BEGIN HIDDEN TESTS\ncheck_equal(f(3), 6)\n# END HIDDEN TESTS"


def notebook(*cells):
    return new_notebook(cells=list(cells))


def good():
    return notebook(new_code_cell("import numpy as np\nfrom course_lib.checks import check_equal",
                                  metadata=meta("setup", "locked")),
                    new_code_cell(ANSWER, metadata=meta("q1", "answer")),
                    new_code_cell(CHECK, metadata=meta("q1_check", "check", points=2)))


def messages(nb):
    return [str(p) for p in fmt.lint_notebook(nb, name="lab.ipynb")]


def test_fixture_and_good_notebook_lint_clean():
    assert fmt.lint_notebook(SOURCE) == []
    assert messages(good()) == []


def test_stub_keeps_signature_docstring_and_indentation():
    assert fmt.stub_solution(ANSWER) == (
        "def f(x):\n    \"\"\"Doubles x.\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    top = "a = 1\n# BEGIN SOLUTION\nb = 2\nc = 3\n# END SOLUTION\nprint(b)"
    assert fmt.stub_solution(top) == "a = 1\n# YOUR CODE HERE\nraise NotImplementedError()\nprint(b)"
    two = ANSWER + "\n\ndef g():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert fmt.stub_solution(two).count("raise NotImplementedError()") == 2


def test_remove_hidden_tests_and_segments():
    assert fmt.remove_hidden_tests(CHECK) == "check_equal(f(2), 4)\n" + fmt.HIDDEN_NOTE
    assert fmt.remove_hidden_tests(CHECK, note=None) == "check_equal(f(2), 4)"
    assert fmt.check_segments(CHECK + "\nprint('done')") == [
        ("visible", "check_equal(f(2), 4)"), ("hidden", "check_equal(f(3), 6)"),
        ("visible", "print('done')")]


@pytest.mark.parametrize("source, match", [
    ("# END SOLUTION", "without a matching"),
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "cannot be nested"),
    ("# BEGIN SOLUTION\n# BEGIN HIDDEN TESTS\n# END HIDDEN TESTS\n# END SOLUTION", "cannot be nested"),
    ("x = 1  # BEGIN SOLUTION", "mentions a marker but is not one"),
])
def test_marker_errors(source, match):
    with pytest.raises(fmt.MarkerError, match=match):
        fmt.find_regions(source, fmt.SOLUTION)


def test_questions_group_checks_under_the_answer_above():
    questions = fmt.list_questions(fmt.read_notebook(SOURCE))
    assert [(q.answer_id, q.check_ids, q.points) for q in questions] == [
        ("q1_relu", ["q1_relu_check"], 2),
        ("q2_softmax", ["q2_softmax_check", "q2_softmax_stable_check"], 3),
        ("q3_params", ["q3_params_check"], 1)]


def test_defined_names():
    assert fmt.defined_names("import numpy as np\ndef f(): pass\nclass A: pass\na, (b, *c) = 1, (2, 3)\n"
                             "for i in range(2):\n    d = i\nwith open('x') as e:\n    pass") == \
        {"np", "f", "A", "a", "b", "c", "i", "d", "e"}
    assert fmt.defined_names("def f(:") == set()


def edited(index, source=None, **changes):
    nb = good()
    cell = nb.cells[index]
    if source is not None:
        cell.source = source
    for key, value in changes.items():
        if value is None:
            cell.metadata["nbgrader"].pop(key, None)
        else:
            cell.metadata["nbgrader"][key] = value
    return nb


@pytest.mark.parametrize("nb, expected", [
    (edited(2, grade_id="q1"), "cell 2 (grade_id 'q1'): duplicate grade_id (also used by cell 1)"),
    (edited(2, points=None), "a check cell needs positive points, got None"),
    (edited(2, points=0), "a check cell needs positive points, got 0"),
    (edited(2, locked=False), "a check cell should be locked"),
    (edited(1, source="def f(x):\n    return 2 * x"), "answer cell without '# BEGIN SOLUTION'"),
    (edited(1, source=ANSWER.replace("    # END SOLUTION", "")), "is never closed"),
    (edited(1, source=ANSWER + "\n# BEGIN HIDDEN TESTS\nx\n# END HIDDEN TESTS"),
     "hidden-test markers belong in check cells"),
    (edited(2, source=CHECK + "\n# BEGIN SOLUTION\nx\n# END SOLUTION"),
     "solution markers belong in answer cells"),
    (edited(0, source="# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), "markers are only allowed in"),
    (edited(1, source="def f(x):\n    # BEGIN SOLUTION\n    # END SOLUTION"), "is empty"),
    (edited(1, source="def f(x):\n# BEGIN SOLUTION\n    return x\n# END SOLUTION"),
     "the student's stub does not parse"),
    (edited(2, source="for i in range(2):\n# BEGIN HIDDEN TESTS\n    assert i < 2\n# END HIDDEN TESTS"),
     "does not parse on its own"),
    (edited(2, source="if True:\n    # BEGIN HIDDEN TESTS\n    assert 1\n    # END HIDDEN TESTS"),
     "hidden-test markers must start at the beginning of the line"),
    (edited(1, locked=True), "an answer cell must not be locked"),
    (edited(1, grade=True, points=1), "manually graded answers are not supported"),
    (edited(0, task=True), "task cells are not supported"),
    (edited(0, schema_version=1), "schema_version should be 3, got 1"),
    (edited(0, grade_id="my setup"), "grade_id should be a non-empty name"),
    (edited(0, solution="yes"), "nbgrader 'solution' should be true or false"),
    (edited(0, extra_key=1), "unknown nbgrader metadata keys ['extra_key']; put metadata of our own under"),
    # Check-cell rules (docs/check-cells.md).
    (edited(2, source="[check_close(f(x), 2 * x) for x in (1, 2)]"),
     "cell 2 (grade_id 'q1_check'): check_close used on line 1 other than as a statement"),
    (edited(2, source="def run():\n    check_close(f(1), 2)\nrun()"), "not inside def, lambda"),
    (edited(2, source="ok = check_equal(f(1), 2) or True"), "not inside a larger expression"),
    (edited(2, source="import course_lib.checks as c\nc.check_equal(f(1), 2)"),
     "c.check_equal on line 2: call the check helpers by their bare names"),
    (edited(2, source="check_equal(f(1), (e := 2))"), "has a ':=' in a grader-side argument"),
    (edited(2, source="check_equal(f(1), 2)\n# BEGIN HIDDEN TESTS\ncheck_true(f(2) == 4, 'f(2)')\n"
                      "# END HIDDEN TESTS"), "check_true in a hidden region"),
    (edited(2, source="assert f(2) == 4\ncheck_equal(f(1), 2)"),
     "line 1: `assert` in a check cell runs in the student's kernel"),
    (edited(2, source="print(f(2))"), "this check cell calls no check helper"),
    (edited(2, source="check_equal(f(1), 2)\n# BEGIN HIDDEN TESTS\n"
                      "for x, want in [(1, 2), (2, 4)]:\n    check_equal(f(x), want)\n"
                      "# END HIDDEN TESTS"),
     "line 1 of a hidden region: the loop variable(s) ['want'] feed only grader-side arguments"),
    (edited(0, source="from course_lib import check_close"),
     "import check_close from course_lib.checks (found: from course_lib import check_close)"),
    (edited(0, source="from course_lib.checks import check_close as close"),
     "import check_close under its own name"),
])
def test_lint_messages(nb, expected):
    found = messages(nb)
    assert any(expected in message for message in found), found
    assert all(message.startswith("lab.ipynb: ") for message in found)


def test_lint_structure_rules():
    orphan = notebook(new_code_cell(CHECK, metadata=meta("q0_check", "check")))
    assert any("check cell with no answer cell above it" in m for m in messages(orphan))
    lonely = notebook(new_code_cell(ANSWER, metadata=meta("q1", "answer")),
                      new_code_cell(ANSWER.replace("f(", "g("), metadata=meta("q2", "answer")),
                      new_code_cell(CHECK, metadata=meta("q2_check", "check")))
    assert any("cell 0 (grade_id 'q1'): answer cell without a check cell after it" in m
               for m in messages(lonely))
    markdown = notebook(new_markdown_cell("# BEGIN SOLUTION\nsecret\n# END SOLUTION"))
    assert any("markers are only allowed" in m for m in messages(markdown))
    written = notebook(new_markdown_cell("# BEGIN SOLUTION\nx\n# END SOLUTION",
                                         metadata=meta("q1", "answer")))
    assert any("answer cells must be code cells" in m for m in messages(written))
    meta_not_dict = notebook(new_code_cell("x = 1", metadata={"nbgrader": [1]}))
    assert any("should be a dict" in m for m in messages(meta_not_dict))
    assert any("no 'cells' list" in str(p) for p in fmt.lint_notebook({"metadata": {}}, name="x"))


def test_lint_files_and_folders(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    problems = fmt.lint_notebook(bad)
    assert len(problems) == 1 and "is not a notebook: it is not valid JSON" in str(problems[0])
    with pytest.raises(ValueError, match="does not exist"):
        fmt.lint_paths([tmp_path / "missing"])
    with pytest.raises(ValueError, match="holds no notebook"):
        fmt.lint_paths(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else None)
    with pytest.raises(ValueError, match="is not a notebook"):
        fmt.read_notebook(bad)
    bad.write_text(json.dumps({"cells": 3}))
    with pytest.raises(ValueError, match="not a notebook that nbformat can read"):
        fmt.read_notebook(bad)


def test_cli_lint(tmp_path, capsys):
    assert main(["lint", str(SOURCE)]) == 0
    assert "1 notebook(s) OK." in capsys.readouterr().out
    nb = edited(2, points=None)
    nbformat.write(nb, tmp_path / "lab.ipynb")
    assert main(["lint", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "lab.ipynb: cell 2 (grade_id 'q1_check'): a check cell needs positive points" in out.out
    assert "1 problem(s) in 1 notebook(s)." in out.err
    assert main(["lint", str(tmp_path / "nope")]) == 2


def test_lint_forbidden_metadata():
    nb = good()
    nb.cells[1].metadata["course_lib"] = {"forbidden": ["course_lib.scratch.dense_backward",
                                                        "course_lib.scratch.no_such_thing"]}
    found = messages(nb)
    assert any("cell 1 (grade_id 'q1'): metadata course_lib.forbidden names "
               "'course_lib.scratch.no_such_thing'" in m for m in found), found
    assert not any("names 'course_lib.scratch.dense_backward'" in m for m in found)
    nb.cells[1].metadata["course_lib"] = {"forbidden": "course_lib.scratch.dense_backward"}
    assert any("should be a list of dotted names" in m for m in messages(nb))


def test_forbidden_definitions_are_found_through_re_exports(tmp_path):
    from course_instructor import forbidden
    path, name = forbidden.find_definition("course_lib.scratch.dense_backward")
    assert path.name == "layers.py" and name == "dense_backward"
    assert forbidden.find_definition("course_lib.box_iou")[0].name == "boxes.py"   # _EXPORTS
    copy = forbidden.poisoned_copy(["course_lib.metrics.boxes.box_iou",
                                    "course_lib.scratch.Dense"], tmp_path)
    text = (copy / "metrics" / "boxes.py").read_text()
    assert "ForbiddenReferenceError('course_lib.metrics.boxes.box_iou is not allowed" in text
    with pytest.raises(ValueError, match="not a function or class defined in course_lib"):
        forbidden.poisoned_copy(["course_lib.nothing.here"], tmp_path / "other")
