"""The grader against tiny submissions of tests/fixtures/grading/source.ipynb (NumPy only).

The fixture has 4 check cells worth 6 points: q1_relu (2), q2_softmax (1 visible +
2 with a hidden stability check), q3_params (1). Each submission is the released
notebook with answers filled in, as a student would hand it in.
"""

import copy
import json
from pathlib import Path

import nbformat
import pytest

from course_instructor import format as fmt
from course_instructor import grade
from course_instructor.cli import main
from course_instructor.release import notebook_bytes, release_notebook


SOURCE = Path(__file__).parent / "fixtures" / "grading" / "source.ipynb"

RELU_OK = "def relu(x):\n    return np.maximum(np.asarray(x, dtype=float), 0.0)"
SOFTMAX_OK = ("def softmax(logits):\n    z = np.asarray(logits, dtype=float)\n"
              "    e = np.exp(z - z.max(axis=1, keepdims=True))\n"
              "    return e / e.sum(axis=1, keepdims=True)")
SOFTMAX_NAIVE = ("def softmax(logits):\n    e = np.exp(np.asarray(logits, dtype=float))\n"
                 "    return e / e.sum(axis=1, keepdims=True)")
PARAMS_OK = "num_params = 16"
CORRECT = {"q1_relu": RELU_OK, "q2_softmax": SOFTMAX_OK, "q3_params": PARAMS_OK}


def released():
    return release_notebook(fmt.read_notebook(SOURCE), "source.ipynb")


def submission(answers=None, edit=None):
    """The released notebook with `answers` (grade_id -> code) filled in, then `edit(nb)`."""
    nb = released()
    for cell in nb.cells:
        gid = fmt.grade_id(cell)
        if answers and gid in answers:
            cell.source = answers[gid]
    if edit:
        edit(nb)
    return nb


def write(folder, name, nb_or_bytes):
    path = Path(folder) / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(nb_or_bytes if isinstance(nb_or_bytes, bytes) else notebook_bytes(nb_or_bytes))
    return path


def scores(results):
    return {r.student: r.score for r in results}


def by_name(result):
    return {t["name"]: t for t in result.tests}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grades the main set of submissions once (one kernel each)."""
    folder = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("grades")

    def drop_checks(nb):
        nb.cells = [c for c in nb.cells if fmt.cell_kind(c) != "check"]

    def neuter_checks(nb):
        for cell in nb.cells:
            if fmt.cell_kind(cell) == "check":
                cell.source = "print('all checks passed')"

    def strip_metadata(nb):
        for cell in nb.cells:
            cell.metadata.pop("nbgrader", None)

    def rename_ids(nb):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if meta:
                meta["grade_id"] = "mine_" + meta["grade_id"]
            cell["id"] = "x" + cell["id"]

    wrong = {"q1_relu": "def relu(x):\n    return np.asarray(x, dtype=float)",
             "q2_softmax": "def softmax(logits):\n    return np.asarray(logits, dtype=float)",
             "q3_params": "num_params = 12"}
    write(folder, "correct", submission(CORRECT))
    write(folder, "partial", submission({**CORRECT, "q2_softmax": SOFTMAX_NAIVE,
                                         "q3_params": "num_params = 12"}))
    write(folder, "blank", submission())
    write(folder, "malformed_json", b'{"cells": [ this is not json')
    write(folder, "no_cells", b'{"metadata": {}}')
    write(folder, "renamed_ids", submission(CORRECT, rename_ids))
    write(folder, "lost_metadata", submission(CORRECT, strip_metadata))
    write(folder, "loop", submission({**CORRECT, "q1_relu": "def relu(x):\n    while True:\n        pass"}))
    write(folder, "deleted_checks", submission(wrong, drop_checks))
    write(folder, "edited_checks", submission(wrong, neuter_checks))
    write(folder, "fake_score", submission({
        **CORRECT,
        "q1_relu": ("print('course-lib-pass-0123456789abcdef0123456789abcdef')\n"
                    "print('Score: 6/6')\nprint('q1_relu_check passed')\n"
                    "def relu(x):\n    return x"),
    }))
    write(folder, "imports_checks", submission({
        **CORRECT,
        "q3_params": ("from course_lib.checks import check_equal, check_close\n"
                      "num_params = 16\ncheck_equal(num_params, 16)\nprint(num_params)"),
    }))
    write(folder, "always_equal", submission({
        **CORRECT,
        "q3_params": ("class Anything(int):\n    def __eq__(self, other):\n        return True\n"
                      "num_params = Anything(12)"),
    }))
    write(folder, "crash", submission({**CORRECT, "q2_softmax": "import os\nos._exit(1)"}))
    write(folder / "student_in_folder", "lab", submission(CORRECT))
    results = grade.grade_submissions(SOURCE, folder, out=out, cell_timeout=5, sandbox=False)
    return {r.student: r for r in results}, out, folder


def test_exact_scores(graded):
    results, _, _ = graded
    assert scores(results.values()) == {
        "correct": 6, "partial": 3, "blank": 0, "malformed_json": 0, "no_cells": 0,
        "renamed_ids": 0, "lost_metadata": 6, "loop": 4, "deleted_checks": 0,
        "edited_checks": 0, "fake_score": 4, "imports_checks": 6, "always_equal": 5,
        "crash": 3, "student_in_folder": 6,
    }
    assert all(r.max_score == 6 for r in results.values())


def test_statuses_and_notes(graded):
    results, _, _ = graded
    assert results["correct"].status == "graded"
    assert results["malformed_json"].status == "malformed"
    assert "not valid JSON" in results["malformed_json"].notes[0]
    assert results["no_cells"].status == "malformed"
    assert results["renamed_ids"].status == "no answers"
    assert any("matched by cell id" in n for n in results["lost_metadata"].notes)
    assert results["loop"].status == "graded with penalties"
    assert any("ran longer than 5 s" in n for n in results["loop"].notes)


def test_feedback_is_useful_and_hides_hidden_checks(graded):
    results, _, _ = graded
    partial = by_name(results["partial"])
    assert partial["q2_softmax_check"]["output"] == "passed"
    hidden = partial["q2_softmax_stable_check"]["output"]
    assert hidden.startswith("A hidden check failed")
    # Nothing of the hidden check's code, values or names leaks.
    assert "1000" not in hidden and "large logits" not in hidden and "row maximum" not in hidden
    assert "num_params: expected 16, got 12" in partial["q3_params_check"]["output"]
    assert "weights plus one bias" in partial["q3_params_check"]["output"]
    blank = by_name(results["blank"])
    assert "Not answered yet" in blank["q1_relu_check"]["output"]
    loop = by_name(results["loop"])
    assert "ran longer than" in loop["q1_relu_check"]["output"]
    assert loop["q2_softmax_stable_check"]["score"] == 2     # graded after the restart


def test_an_honest_answer_that_imports_check_helpers_scores_full(graded):
    # The AST screen scored this 0 ("imports course_lib.checks"); the judge has no screen.
    results, _, _ = graded
    assert results["imports_checks"].score == 6 and results["imports_checks"].status == "graded"


def test_tricks_and_crashes_cost_their_question_only(graded):
    results, _, _ = graded
    assert by_name(results["always_equal"])["q3_params_check"]["output"].startswith(
        "num_params: expected 16, got 12")
    assert by_name(results["fake_score"])["q1_relu_check"]["score"] == 0
    assert "kernel died" in by_name(results["crash"])["q2_softmax_check"]["output"]
    assert by_name(results["crash"])["q3_params_check"]["score"] == 1     # graded after the restart


def test_output_files(graded):
    results, out, _ = graded
    summary = json.loads((out / "results.json").read_text())
    assert summary["max_score"] == 6
    assert summary["questions"] == {"q1_relu": 2, "q2_softmax": 3, "q3_params": 1}
    assert [s["student"] for s in summary["students"]] == sorted(results)
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[0] == "student,q1_relu,q2_softmax,q3_params,total,max_score,status"
    assert "partial,2,1,0,3,6,graded" in rows
    gradescope = json.loads((out / "partial" / "results.json").read_text())
    assert set(gradescope) == {"score", "output", "tests"}
    assert gradescope["score"] == 3
    assert {t["name"] for t in gradescope["tests"]} == {
        "q1_relu_check", "q2_softmax_check", "q2_softmax_stable_check", "q3_params_check"}
    assert set(gradescope["tests"][0]) == {"name", "score", "max_score", "output"}


def test_grading_twice_gives_identical_files(graded, tmp_path):
    _, out, folder = graded
    subset = tmp_path / "subset"
    for name in ("partial", "blank", "malformed_json"):
        (subset / f"{name}.ipynb").parent.mkdir(parents=True, exist_ok=True)
        (subset / f"{name}.ipynb").write_bytes((folder / f"{name}.ipynb").read_bytes())
    grade.grade_submissions(SOURCE, subset, out=tmp_path / "a", cell_timeout=5, sandbox=False)
    assert (tmp_path / "a" / "partial" / "results.json").read_bytes() == \
        (out / "partial" / "results.json").read_bytes()
    grade.grade_submissions(SOURCE, subset, out=tmp_path / "b", cell_timeout=5, sandbox=False)
    for name in ("results.json", "scores.csv", "partial/results.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_read_submission_errors(tmp_path):
    source_nb = fmt.read_notebook(SOURCE)
    bad = tmp_path / "bad.ipynb"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="no list of cells"):
        grade.read_submission(bad, source_nb)
    bad.write_bytes(b"\xff\xfe not utf8")
    with pytest.raises(ValueError, match="not valid JSON"):
        grade.read_submission(bad, source_nb)


def test_duplicate_answer_cells_grade_the_last(tmp_path):
    def duplicate(nb):
        index = next(i for i, c in enumerate(nb.cells) if fmt.grade_id(c) == "q3_params")
        copy_cell = copy.deepcopy(nb.cells[index])
        copy_cell["id"] = "copy"
        copy_cell.source = "num_params = 16"
        nb.cells.insert(index + 1, copy_cell)
    path = write(tmp_path, "dup", submission({"q3_params": "num_params = 1"}, duplicate))
    answers, notes = grade.read_submission(path, fmt.read_notebook(SOURCE))
    assert answers["q3_params"] == "num_params = 16"
    assert any("more than once" in n for n in notes)


def test_grade_submissions_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        grade.grade_submissions(SOURCE, tmp_path / "nope")
    with pytest.raises(ValueError, match="holds no submitted notebook"):
        grade.grade_submissions(SOURCE, tmp_path)
    with pytest.raises(ValueError, match="cell_timeout should be a positive number"):
        grade.grade_submissions(SOURCE, tmp_path, cell_timeout=0)
    no_questions = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "plain.ipynb"
    nbformat.write(no_questions, path)
    with pytest.raises(ValueError, match="has no graded question"):
        grade.grade_submissions(path, tmp_path)
    broken = fmt.read_notebook(SOURCE)
    broken.cells[3].source = broken.cells[3].source.replace("# END SOLUTION", "")
    nbformat.write(broken, path)
    with pytest.raises(ValueError, match="has format problems"):
        grade.grade_submissions(path, tmp_path)


def test_cli_grade_writes_results(tmp_path, capsys):
    folder = tmp_path / "subs"
    write(folder, "ada", submission(CORRECT))
    status = main(["grade", "--source", str(SOURCE), "--submissions", str(folder),
                   "--out", str(tmp_path / "out"), "--cell-timeout", "20"])
    assert status == 0
    assert "ada: 6/6 (graded)" in capsys.readouterr().out
    assert (tmp_path / "out" / "ada" / "results.json").exists()
    assert main(["grade", "--source", str(SOURCE), "--submissions", str(tmp_path / "none"),
                 "--out", str(tmp_path / "out")]) == 2


# ---------------------------------------------------------------------------- judge.py

CELL = '''grads = backward(np.ones((1, 3)), np.ones((1, 2)), kernel)
check_close(grads[0], [[-1.0, 1.0]], name="grad_x", hint="grad_x = g @ kernel.T")
expected = reference_grads(kernel)
expected[0, 2] -= 1
expected.fill(2)
print("passes the visible checks")
# BEGIN HIDDEN TESTS
from course_lib.scratch import dense_backward as reference_backward
rng = np.random.default_rng(0)
for batch_size in (1, 5):
    x, g = rng.normal(size=(batch_size, 2)), rng.normal(size=(batch_size, 3))
    want = x.T @ g + 0 * reference_backward(g, x, kernel)[1]
    check_close(backward(g, x, kernel)[1], want, name=f"HIDDEN_NAME {batch_size}", hint="HINT")
check_equal(grads[1], expected, name="e")
# END HIDDEN TESTS'''


def test_student_side_keeps_only_what_values_need():
    from course_instructor import judge
    visible, hidden = judge.split_check_cell(CELL)
    assert visible.kind == "visible" and hidden.kind == "hidden"
    assert "__course_lib_value__(0, 'close', grads[0])" in visible.student
    assert "expected" not in visible.student and "-1.0, 1.0" not in visible.student
    assert "print('passes the visible checks')" in visible.student
    for text in ("want", "x.T @ g", "HIDDEN_NAME", "HINT", "expected", "#", "reference_backward"):
        assert text not in hidden.student, text
    assert "__course_lib_value__(1, 'close', backward(g, x, kernel)[1])" in hidden.student
    assert "__course_lib_value__(2, 'equal', grads[1])" in hidden.student
    assert "__course_lib_record__(1, 'close', backward(g, x, kernel)[1], want" in hidden.reference
    # A name a later cell reads stays computed.
    visible, _ = judge.split_check_cell(CELL, later_loads={"expected"})
    assert "expected = reference_grads(kernel)" in visible.student


def test_records_are_parsed_strictly():
    from course_instructor import judge

    def output(text):
        return {"output_type": "display_data", "data": {judge.MIME: text}}
    good = '{"i": 0, "k": "close", "v": {"float": "1.5"}}'
    records, problem = judge.read_records([output(good), {"output_type": "stream", "text": good}])
    assert problem is None and [(r.index, r.kind, r.value) for r in records] == [(0, "close", 1.5)]
    for bad in ("nope", '{"i": "0", "k": "close", "v": 1}', '{"i": 0, "k": "exec", "v": 1}',
                '{"i": 0, "k": "close", "v": {"__class__": 1}}', '[' * 5000):
        assert judge.read_records([output(bad)])[1] == "malformed check record", bad


def test_a_grader_failure_on_one_submission_keeps_the_others(tmp_path, monkeypatch):
    folder = tmp_path / "subs"
    write(folder, "boom", submission(CORRECT))
    write(folder, "fine", submission(CORRECT))
    real = grade.grade_notebook

    def flaky(source_nb, path, student="student", **kwargs):
        if student == "boom":
            raise OSError("disk gone")
        return grade.StudentResult(student, str(path), tests=[
            {"name": "q1_relu_check", "question": "q1_relu", "score": 2, "max_score": 2,
             "output": "passed"}])
    monkeypatch.setattr(grade, "grade_notebook", flaky)
    monkeypatch.setattr(grade, "run_reference", lambda *a, **k: None)
    results = {r.student: r for r in grade.grade_submissions(SOURCE, folder, out=tmp_path / "out",
                                                            sandbox=False)}
    assert real is not flaky
    assert results["boom"].status == "grader error" and results["boom"].score == 0
    assert "the grader failed on this submission (OSError)" in results["boom"].notes[0]
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [s["student"] for s in summary["students"]] == ["boom", "fine"]
    assert summary["students"][1]["score"] == 2


def test_pruning_keeps_what_changes_objects_the_values_use():
    from course_instructor import judge
    cell = ("convs = [layer for layer in model.layers if is_conv(layer)]\n"
            "rng = np.random.default_rng(1)\n"
            "for conv in convs:\n"
            "    conv.set_weights([rng.normal(size=w.shape) for w in conv.get_weights()])\n"
            "w1, b1 = convs[0].get_weights()\n"
            "want = reference(probe, w1, b1) + rng.normal()\n"
            "x = rng.normal(size=3)\n"
            "peak = probe.max()\n"
            "check_close(model(x), want, atol=peak)")
    (region,) = judge.split_check_cell(cell)
    assert "conv.set_weights(" in region.student           # a loop variable may alias the model
    assert "peak" not in region.student                    # .max() changes nothing
    assert "want = " in region.student                     # it advances rng, which x needs
    assert any("`want = reference(probe, w1, b1) + rng.normal()` only feeds grader-side arguments "
               "but calls a method of ['rng']" in p for p in judge.lint_check_cell(cell))


def test_pruning_keeps_calls_that_train_a_model_or_draw_from_a_global_generator():
    from course_instructor import judge
    cell = ("history = model.fit(x, y)\n"
            "noise = np.random.normal()\n"
            "norm = np.linalg.norm(x)\n"
            "check_close(model.predict(x), reference(x) + noise, atol=norm + history.epochs)")
    (region,) = judge.split_check_cell(cell, modules={"np"})
    assert "history = model.fit(x, y)" in region.student      # model comes from an earlier cell
    assert "noise = np.random.normal()" in region.student     # the global generator moves
    assert "norm = " not in region.student                    # np is a module: norm only feeds atol
