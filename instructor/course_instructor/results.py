"""Writing grading results: results.json, scores.csv, one Gradescope results.json per student.

    writer = ResultsWriter("grades/", source_nb, "01_dnn_from_scratch.ipynb")
    for ...:
        writer.add(result)          # the files now hold every student graded so far
    writer.finish()                 # results.json says "complete": true

Every file is written to a temporary file in its own folder, then moved over the
old one with `os.replace` (atomic on POSIX and Windows): a reader, or a grader
killed at any moment, sees the previous complete file or the new complete file,
never half of one. Results are rewritten after each student, so a crash or a
killed run loses at most the student being graded (`"complete": false` in
results.json until the last one). Nothing else in `out/` is deleted: a file or
folder that stands where one of ours must go (e.g. a folder named
`results.json`) is renamed aside (`results.json.moved-aside-1`) and reported.
"""

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path

from course_instructor import format as fmt

RESULTS_FILE = "results.json"
SCORES_FILE = "scores.csv"
_RESERVED = {RESULTS_FILE, SCORES_FILE}


class ResultsWriter:
    """Writes the results of a grading run as each student finishes.

    Args:
        out: the output folder (created if missing).
        source_nb: the instructor notebook (NotebookNode), for the list of questions.
        source_name: the name written in results.json.

    Attributes:
        moved_aside: list of (path, new path) of things renamed out of the way.

    Raises:
        ValueError: `out` exists and is not a folder.
    """

    def __init__(self, out, source_nb, source_name="lab.ipynb"):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"The output folder {self.out} is a file. Pass a folder (it is "
                             f"created if missing), e.g. --out grades/. Received: out={str(out)!r}")
        self.out.mkdir(parents=True, exist_ok=True)
        for leftover in [*self.out.glob(".*.tmp"), *self.out.glob("*/.*.tmp")]:
            if leftover.name.startswith((f".{RESULTS_FILE}.", f".{SCORES_FILE}.")):
                leftover.unlink()   # ours, from a run killed while writing
        self.questions = fmt.list_questions(source_nb)
        self.source_name = source_name
        self.results = {}
        self.moved_aside = []

    def add(self, result):
        """Records one student's `StudentResult` and rewrites the files (atomically)."""
        self.results[result.student] = result
        folder = self.out / student_folders(self.results)[result.student]
        self._make_folder(folder)
        self._write(folder / RESULTS_FILE, _json(result.to_gradescope()))
        self._write_summary(complete=False)

    def finish(self):
        """Writes the final files: every student's folder, results.json with "complete": true."""
        folders = student_folders(self.results)
        for student, result in sorted(self.results.items()):
            folder = self.out / folders[student]
            self._make_folder(folder)
            self._write(folder / RESULTS_FILE, _json(result.to_gradescope()))
        self._write_summary(complete=True)

    def _write_summary(self, complete):
        results = [self.results[name] for name in sorted(self.results)]
        summary = {"source": self.source_name, "complete": complete,
                   "questions": {q.answer_id: q.points for q in self.questions},
                   "max_score": sum(q.points for q in self.questions),
                   "students": [r.to_dict() for r in results]}
        # Questions in notebook order, as in scores.csv (not sorted by name).
        self._write(self.out / RESULTS_FILE, _json(summary, sort_keys=False))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["student"] + [q.answer_id for q in self.questions]
                        + ["total", "max_score", "status"])
        for r in results:
            scores = r.question_scores()
            writer.writerow([r.student] + [_number(scores.get(q.answer_id, 0)) for q in self.questions]
                            + [_number(r.score), _number(r.max_score), r.status])
        self._write(self.out / SCORES_FILE, buffer.getvalue())

    def _move_aside(self, path):
        for number in range(1, 1000):
            target = path.with_name(f"{path.name}.moved-aside-{number}")
            if not os.path.lexists(target):
                os.replace(path, target)
                self.moved_aside.append((str(path), str(target)))
                return
        raise OSError(f"{path} is in the way and could not be renamed aside; move it yourself")

    def _make_folder(self, folder):
        if os.path.lexists(folder) and (folder.is_symlink() or not folder.is_dir()):
            self._move_aside(folder)
        folder.mkdir(exist_ok=True)

    def _write(self, path, text):
        if os.path.lexists(path) and (path.is_symlink() or not path.is_file()):
            self._move_aside(path)
        write_atomic(path, text)


def write_atomic(path, text):
    """Writes `text` to `path` through a temporary file in the same folder and `os.replace`."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def write_results(results, out, source_nb, source_name="lab.ipynb"):
    """Writes results.json, scores.csv and one Gradescope results.json per student into `out`.

    Returns:
        The `ResultsWriter` (its `moved_aside` lists anything renamed out of the way).
    """
    writer = ResultsWriter(out, source_nb, source_name)
    for result in results:
        writer.results[result.student] = result
    writer.finish()
    return writer


def student_folders(students):
    """Maps each student name to a distinct, safe folder name (never results.json/scores.csv)."""
    folders, used = {}, set()
    for student in sorted(students):
        name = _safe_name(student)
        if name in _RESERVED or name.startswith("."):
            name = f"student_{name.lstrip('.')}"
        candidate, number = name, 2
        while candidate.lower() in used:
            candidate, number = f"{name}_{number}", number + 1
        used.add(candidate.lower())
        folders[student] = candidate
    return folders


def _json(data, sort_keys=True):
    return json.dumps(data, indent=2, sort_keys=sort_keys) + "\n"


def _number(value):
    return int(value) if float(value).is_integer() else value


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"
