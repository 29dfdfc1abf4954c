"""Writing grading results (course_instructor.results): atomic files, partial results, nothing lost."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from course_instructor import format as fmt
from course_instructor import results as res

SOURCE = Path(__file__).parent / "fixtures" / "grading" / "source.ipynb"


@dataclass
class FakeResult:
    """The part of grade.StudentResult the writer uses."""
    student: str
    points: dict = field(default_factory=dict)      # question -> score
    status: str = "graded"

    @property
    def score(self):
        return sum(self.points.values())

    @property
    def max_score(self):
        return 6

    def question_scores(self):
        return dict(self.points)

    def to_dict(self):
        return {"student": self.student, "score": self.score, "status": self.status,
                "questions": self.question_scores()}

    def to_gradescope(self):
        return {"score": self.score, "output": "", "tests": []}


@pytest.fixture(scope="module")
def source_nb():
    return fmt.read_notebook(SOURCE)


def read_scores(out):
    with open(Path(out) / "scores.csv", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_partial_results_are_written_as_each_student_finishes(tmp_path, source_nb):
    writer = res.ResultsWriter(tmp_path / "grades", source_nb, "source.ipynb")
    writer.add(FakeResult("bob", {"q1_relu": 2}))
    summary = json.loads((tmp_path / "grades" / "results.json").read_text())
    assert summary["complete"] is False
    assert [s["student"] for s in summary["students"]] == ["bob"]
    assert read_scores(tmp_path / "grades")["bob"]["total"] == "2"
    assert json.loads((tmp_path / "grades" / "bob" / "results.json").read_text())["score"] == 2
    writer.add(FakeResult("alice", {"q1_relu": 2, "q3_params": 1}))
    writer.finish()
    summary = json.loads((tmp_path / "grades" / "results.json").read_text())
    assert summary["complete"] is True
    assert [s["student"] for s in summary["students"]] == ["alice", "bob"]
    assert read_scores(tmp_path / "grades")["alice"]["total"] == "3"
    assert not [p for p in (tmp_path / "grades").rglob("*.tmp")]


def test_write_results_is_deterministic(tmp_path, source_nb):
    results = [FakeResult("b", {"q1_relu": 2}), FakeResult("a", {"q3_params": 1})]
    res.write_results(results, tmp_path / "one", source_nb, "source.ipynb")
    res.write_results(results[::-1], tmp_path / "two", source_nb, "source.ipynb")
    for name in ("results.json", "scores.csv", "a/results.json", "b/results.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_instructor_files_in_out_are_kept_and_things_in_the_way_moved_aside(tmp_path, source_nb):
    out = tmp_path / "grades"
    (out / "results.json").mkdir(parents=True)              # a folder where our file goes
    (out / "results.json" / "keep.txt").write_text("mine")
    (out / "notes.txt").write_text("instructor's notes")
    (out / "alice").write_text("a file where alice's folder goes")
    (out / "bob").mkdir()
    (out / "bob" / "results.json").mkdir()
    writer = res.write_results([FakeResult("alice", {"q1_relu": 2}), FakeResult("bob")], out,
                               source_nb, "source.ipynb")
    assert (out / "notes.txt").read_text() == "instructor's notes"
    assert (out / "results.json.moved-aside-1" / "keep.txt").read_text() == "mine"
    assert (out / "alice.moved-aside-1").read_text() == "a file where alice's folder goes"
    assert (out / "bob" / "results.json.moved-aside-1").is_dir()
    assert json.loads((out / "results.json").read_text())["complete"] is True
    assert json.loads((out / "alice" / "results.json").read_text())["score"] == 2
    assert len(writer.moved_aside) == 3


def test_student_folders_are_distinct_and_never_our_files():
    folders = res.student_folders(["results.json", "scores.csv", "a b", "a_b", "A_B", ".hidden", ""])
    assert len(set(folders.values())) == 7
    assert folders["results.json"] == "student_results.json"
    assert folders[".hidden"] == "student_hidden"
    assert not any(name in ("results.json", "scores.csv") or name.startswith(".")
                   for name in folders.values())


def test_out_that_is_a_file_is_refused(tmp_path, source_nb):
    (tmp_path / "grades").write_text("not a folder")
    with pytest.raises(ValueError, match=r"output folder .* is a file.*Received: out="):
        res.ResultsWriter(tmp_path / "grades", source_nb)


def test_a_writer_killed_midway_leaves_complete_files(tmp_path, source_nb):
    """A grading process killed (SIGKILL) while writing never leaves half a file."""
    out = tmp_path / "grades"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_grading_results import FakeResult
        from course_instructor import format as fmt, results as res
        writer = res.ResultsWriter({str(out)!r}, fmt.read_notebook({str(SOURCE)!r}))
        for n in range(10000):
            writer.add(FakeResult(f"s{{n % 40:02d}}", {{"q1_relu": n % 3}}))
            if n == 50:
                print("writing", flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    process.kill()
    process.wait()
    summary = json.loads((out / "results.json").read_text())       # parses: complete file
    assert summary["complete"] is False and len(summary["students"]) == 40
    assert len(read_scores(out)) == 40
    for folder in out.iterdir():
        if folder.is_dir():
            json.loads((folder / "results.json").read_text())
    assert os.path.getsize(out / "scores.csv") > 0
    res.ResultsWriter(out, source_nb).finish()          # a new run clears our temporary files
    assert not list(out.rglob("*.tmp"))


def test_results_json_lists_questions_in_notebook_order_like_scores_csv(tmp_path, source_nb):
    # Issue 21: scores.csv ordered question columns by notebook order, results.json sorted them.
    import copy
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        if fmt.grade_id(cell) == "q1_relu":
            cell.metadata["nbgrader"]["grade_id"] = "z_relu"       # first, but last by name
    order = [q.answer_id for q in fmt.list_questions(nb)]
    assert order[0] == "z_relu" and order != sorted(order)
    res.write_results([FakeResult("ada", {q: 1 for q in order})], tmp_path, nb)
    summary = json.loads((tmp_path / "results.json").read_text())
    assert list(summary["questions"]) == order
    assert list(summary["students"][0]["questions"]) == order
    header = (tmp_path / "scores.csv").read_text().splitlines()[0].split(",")
    assert header[1:1 + len(order)] == order
