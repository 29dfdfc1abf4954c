"""Grade student submissions against the instructor's source notebook.

    course-lib grade --source labs/00_prepare_data.ipynb --submissions submitted/ --out grades/

How a submission is graded:

1. Only the student's answer cells are taken, matched by nbgrader `grade_id`
   (or, if a student's tool dropped the metadata, by cell id). Everything else
   comes from the instructor's source, so an edited or deleted check cell, or
   a check cell copied into the answer, changes nothing. A missing answer is
   graded as the released stub.
2. Each answer is screened (`screen.py`); an answer that uses a construct a
   lab never needs to pass checks honestly (IPython internals, patching a
   library, reading the instructor's notebook, killing the process) is not run
   and its question scores 0, with the reason in the feedback.
3. The source, with those answers in place, runs in a fresh kernel per
   submission (working directory: an empty temporary folder). Code is sent
   from memory; the hidden checks never exist as a file the kernel could read.
4. After each answer and check cell, the kernel is verified (`_guard.py`):
   NumPy, builtins, the check helpers and IPython's hooks must be the same
   objects as after the last instructor cell.
5. A check cell passes only if every part of it (its visible code, then each
   hidden region) finishes without error AND prints a random token the grader
   appended for this run. Scores never come from what a cell prints.
6. A cell that runs past `cell_timeout`, kills the kernel, or tampers with it
   costs its question: the kernel is restarted and the notebook re-run from the
   top with that answer replaced by the stub (at most `MAX_RESTARTS` times). A
   submission that runs past `notebook_timeout` keeps what it had scored; the
   rest scores 0. Nothing a submission does stops the run over the others.

Feedback shows the message of a failing visible check (what the student sees
in their own notebook). A failing hidden check says only "a hidden check
failed" and the kind of error (wrong result, or a common builtin exception
name), never its code, values or the student's printed output.

Outputs in `out/`: `results.json` (every student, every check), `scores.csv`
(one row per student, one column per question), `<student>/results.json`
(Gradescope's shape: {"score", "output", "tests": [{"name", "score",
"max_score", "output"}]}). Same submissions, same results: nothing depends on
time or order (submissions are sorted), except an answer that itself is random
or runs close to a timeout.
"""

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_instructor import format as fmt
from course_instructor.results import write_results
from course_instructor.sandbox import make_kernel_factory
from course_instructor.screen import screen_answer

MAX_RESTARTS = 3
GUARD_SNAPSHOT = "import course_instructor._guard as _course_lib_guard\n_course_lib_guard.snapshot()"
GUARD_VERIFY = "import course_instructor._guard as _course_lib_guard\n_course_lib_guard.verify()"
_SAFE_ENAMES = {"AssertionError", "CheckError", "NotImplementedError", "NameError", "TypeError",
                "ValueError", "IndexError", "KeyError", "AttributeError", "ZeroDivisionError",
                "RuntimeError", "RecursionError", "MemoryError", "OverflowError",
                "FloatingPointError", "InvalidArgumentError", "UnboundLocalError"}
_MAX_MESSAGE = 1500


@dataclass
class CheckOutcome:
    passed: bool = False
    message: str = "not run"


@dataclass
class StudentResult:
    """Scores and feedback for one submission."""
    student: str
    submission: str
    status: str = "graded"
    notes: list = field(default_factory=list)
    tests: list = field(default_factory=list)       # dicts: name, question, score, max_score, output

    @property
    def score(self):
        return sum(test["score"] for test in self.tests)

    @property
    def max_score(self):
        return sum(test["max_score"] for test in self.tests)

    def question_scores(self):
        scores = {}
        for test in self.tests:
            scores[test["question"]] = scores.get(test["question"], 0) + test["score"]
        return scores

    def to_dict(self):
        return {"student": self.student, "submission": self.submission, "status": self.status,
                "score": self.score, "max_score": self.max_score, "notes": list(self.notes),
                "questions": self.question_scores(), "tests": list(self.tests)}

    def to_gradescope(self):
        return {"score": self.score, "output": "\n".join(self.notes),
                "tests": [{"name": t["name"], "score": t["score"], "max_score": t["max_score"],
                           "output": t["output"]} for t in self.tests]}


# ---------------------------------------------------------------------------- submissions

def read_submission(path, source_nb):
    """Returns (answers, notes) from a submitted notebook, or raises ValueError if malformed.

    answers maps an answer grade_id to the student's code for it.
    """
    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a notebook: the file is not valid JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not a notebook: it has no list of cells")
    questions = fmt.list_questions(source_nb)
    wanted = {q.answer_id for q in questions}
    by_cell_id = {source_nb.cells[q.answer_index].get("id"): q.answer_id for q in questions
                  if source_nb.cells[q.answer_index].get("id")}
    answers, notes, by_id = {}, [], {}
    for cell in data["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbgrader = metadata.get("nbgrader") if isinstance(metadata.get("nbgrader"), dict) else {}
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            continue
        gid = nbgrader.get("grade_id")
        if isinstance(gid, str) and gid in wanted:
            if gid in answers:
                notes.append(f"answer cell {gid!r} appears more than once; the last one is graded")
            answers[gid] = source
        elif cell.get("id") in by_cell_id:
            by_id[by_cell_id[cell["id"]]] = source
    for gid, source in by_id.items():
        if gid not in answers:
            notes.append(f"answer cell {gid!r} had lost its grading metadata; matched by cell id")
            answers[gid] = source
    for gid in sorted(wanted - set(answers)):
        notes.append(f"answer cell {gid!r} is missing (deleted, or its metadata removed); "
                     f"it scores 0")
    return answers, notes


def find_submissions(submissions):
    """Returns sorted (student, path) pairs: `DIR/<student>.ipynb` or `DIR/<student>/<any>.ipynb`.

    Raises:
        ValueError: the folder does not exist or holds no notebook.
    """
    root = Path(submissions)
    if not root.is_dir():
        raise ValueError(f"The submissions folder {root} does not exist. Pass a folder holding "
                         f"<student>.ipynb files or <student>/ sub-folders. "
                         f"Received: submissions={str(submissions)!r}")
    found = []
    for path in sorted(root.rglob("*.ipynb")):
        relative = path.relative_to(root)
        if ".ipynb_checkpoints" in relative.parts:
            continue
        student = relative.stem if len(relative.parts) == 1 else relative.parts[0]
        found.append((student, path))
    if not found:
        raise ValueError(f"{root} holds no submitted notebook (*.ipynb). "
                         f"Received: submissions={str(submissions)!r}")
    counts = {}
    for student, _ in found:
        counts[student] = counts.get(student, 0) + 1
    return [(student if counts[student] == 1 else f"{student}/{path.stem}", path)
            for student, path in found]


# ---------------------------------------------------------------------------- grading one

def _student_message(result, hidden):
    name = result.ename or "Error"
    if hidden:
        kind = ("wrong result" if name in ("AssertionError", "CheckError")
                else name if name in _SAFE_ENAMES else "an error")
        return (f"A hidden check failed ({kind}). Your answer passes the visible checks but not "
                f"the instructor's other cases: try other inputs (edge cases, other shapes, "
                f"other sizes).")
    if name == "NotImplementedError":
        return "Not answered yet (NotImplementedError): replace `raise NotImplementedError()` by your code."
    text = f"{name}: {result.evalue}".strip()
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + " [...]"


def _run_with_token(kernel, code, timeout):
    """Runs code followed by a print of a fresh random token; passed = it ran to its end."""
    token = "course-lib-pass-" + secrets.token_hex(16)
    result = kernel.run(f"{code}\nprint({token!r})", timeout)
    return result, result.ok and token in result.stdout.split("\n")


class _Run:
    """One attempt at running a submission (a fresh kernel)."""

    def __init__(self, source_nb, questions, answers, stubbed, skipped, kernel_factory,
                 cell_timeout, deadline):
        self.nb, self.questions, self.answers = source_nb, questions, answers
        self.stubbed, self.skipped = stubbed, skipped
        self.kernel_factory, self.cell_timeout, self.deadline = kernel_factory, cell_timeout, deadline
        self.owner = {}
        for q in questions:
            self.owner[q.answer_index] = q
            for index in q.check_indices:
                self.owner[index] = q
        self.checks = {}            # check grade_id -> CheckOutcome
        self.answer_errors = {}     # answer grade_id -> message
        self.fatal = None           # (cell index, question or None, reason, retry?)
        self.cell_errors = []

    def _timeout(self):
        return min(self.cell_timeout, self.deadline - time.monotonic())

    def _fatal_reason(self, result, what):
        if result.status == "timeout":
            return f"{what} ran longer than {self.cell_timeout:g} s (an infinite loop?)"
        return f"the kernel died while running {what} (os._exit, a crash, or out of memory)"

    def execute(self):
        kernel = self.kernel_factory()
        try:
            kernel.start()
            prelude = kernel.run(GUARD_SNAPSHOT, timeout=60)
            if not prelude.ok:
                raise RuntimeError(f"the grader's prelude failed in the kernel: {prelude.ename}: "
                                   f"{prelude.evalue}. Is course_lib installed in the kernel's "
                                   f"environment?")
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                if self._timeout() <= 0:
                    self.fatal = (index, None, "the notebook ran past its time limit", False)
                    return
                kind = fmt.cell_kind(cell)
                if kind == "answer":
                    if not self._answer(kernel, index, cell):
                        return
                elif kind == "check" and index in self.owner:
                    if not self._check(kernel, index, cell):
                        return
                else:
                    if index in self.skipped:
                        continue
                    result = kernel.run(fmt.source_text(cell), self._timeout())
                    if result.fatal:
                        self.fatal = (index, None, self._fatal_reason(result, f"cell {index}"), True)
                        return
                    if not result.ok:
                        self.cell_errors.append(f"cell {index} raised {result.ename}")
                    snap = kernel.run(GUARD_SNAPSHOT, timeout=60)
                    if snap.fatal:
                        self.fatal = (index, None, self._fatal_reason(snap, f"cell {index}"), True)
                        return
        finally:
            kernel.stop()

    def _verify(self, kernel, index, question):
        result, passed = _run_with_token(kernel, GUARD_VERIFY, timeout=60)
        if passed:
            return True
        if result.ok:   # finished without printing the token: the cell was rewritten or swallowed
            result.evalue = "the grader's own code did not run as sent"
        if result.fatal:
            reason = self._fatal_reason(result, f"the answer {question.answer_id!r}")
        else:
            reason = (f"the answer {question.answer_id!r} changed the grading environment "
                      f"({result.evalue}); its checks cannot be trusted and score 0")
        self.fatal = (index, question, reason, True)
        return False

    def _answer(self, kernel, index, cell):
        question = self.owner[index]
        gid = question.answer_id
        if gid in self.stubbed or gid not in self.answers:
            code = fmt.stub_solution(fmt.source_text(cell))
        else:
            code = self.answers[gid]
        result = kernel.run(code, self._timeout())
        if result.fatal:
            self.fatal = (index, question, self._fatal_reason(result, f"the answer {gid!r}"), True)
            return False
        if not result.ok and result.ename != "NotImplementedError":
            self.answer_errors[gid] = _student_message(result, hidden=False)
        return self._verify(kernel, index, question)

    def _check(self, kernel, index, cell):
        question = self.owner[index]
        gid = fmt.grade_id(cell)
        outcome = CheckOutcome(True, "passed")
        for kind, code in fmt.check_segments(fmt.source_text(cell)):
            result, passed = _run_with_token(kernel, code, self._timeout())
            if result.fatal:
                self.fatal = (index, question,
                              self._fatal_reason(result, f"the check {gid!r} (calling your code)"),
                              True)
                return False
            if not passed:
                if result.ok:   # finished "fine" but without the token: something swallowed it
                    result.ename, result.evalue = "Error", "the check did not run to its end"
                outcome = CheckOutcome(False, _student_message(result, hidden=(kind == "hidden")))
                break
        self.checks[gid] = outcome
        return self._verify(kernel, index, question)


def grade_notebook(source_nb, submission, student="student", cell_timeout=120,
                   notebook_timeout=1800, kernel_factory=None):
    """Grades one submitted notebook; returns a `StudentResult` (never raises for its content).

    Args:
        source_nb: the instructor's notebook (NotebookNode), lint-clean.
        submission: path of the submitted .ipynb.
        student: the name written in the results.
        cell_timeout: seconds any one cell may run.
        notebook_timeout: seconds the whole submission may run (all restarts included).
        kernel_factory: callable returning a fresh `KernelSession` (default: python3 kernel
            in an empty temporary folder).
    """
    questions = fmt.list_questions(source_nb)
    result = StudentResult(student, str(submission))

    def tests_from(checks, penalties, not_run="not run"):
        tests = []
        for q in questions:
            for gid, points in zip(q.check_ids, q.check_points):
                outcome = checks.get(gid, CheckOutcome(False, not_run))
                message = penalties.get(q.answer_id) or outcome.message
                if not outcome.passed and q.answer_id in answer_errors and q.answer_id not in penalties:
                    message = f"Your answer cell raised {answer_errors[q.answer_id]}\n{message}"
                passed = outcome.passed and q.answer_id not in penalties
                tests.append({"name": gid, "question": q.answer_id, "score": points if passed else 0,
                              "max_score": points, "output": "passed" if passed else message})
        return tests

    answer_errors = {}
    try:
        answers, notes = read_submission(submission, source_nb)
    except (ValueError, OSError) as error:
        result.status = "malformed"
        result.notes.append(f"{error}; every question scores 0")
        result.tests = tests_from({}, {q.answer_id: f"not graded: {error}" for q in questions})
        return result
    result.notes.extend(notes)
    penalties = {}
    for q in questions:
        if q.answer_id in answers:
            reasons = screen_answer(answers[q.answer_id])
            if reasons:
                penalties[q.answer_id] = (
                    "Not run: the answer uses something a lab answer must not use ("
                    + "; ".join(reasons) + "). Ask your instructor if you think this is a mistake.")
        else:
            penalties[q.answer_id] = "Missing: no answer cell with this grade_id was submitted."
    if not any(q.answer_id in answers for q in questions):
        result.status = "no answers"
        result.tests = tests_from({}, penalties)
        return result
    if kernel_factory is None:
        kernel_factory = make_kernel_factory()
    deadline = time.monotonic() + notebook_timeout
    stubbed = set(penalties)
    skipped = set()
    run = None
    for attempt in range(MAX_RESTARTS + 1):
        run = _Run(source_nb, questions, answers, stubbed, skipped, kernel_factory,
                   cell_timeout, deadline)
        run.execute()
        if run.fatal is None:
            break
        index, question, reason, retry = run.fatal
        result.notes.append(reason)
        if not retry or attempt == MAX_RESTARTS:
            result.status = "incomplete"
            break
        if question is not None:
            penalties[question.answer_id] = f"Scored 0: {reason}."
            stubbed.add(question.answer_id)
        else:
            skipped.add(index)
    answer_errors = run.answer_errors
    if run.cell_errors:
        result.notes.extend(f"{error} (not graded)" for error in run.cell_errors)
    not_run = f"Not run: {result.notes[-1]}." if result.status == "incomplete" else "not run"
    result.tests = tests_from(run.checks, penalties, not_run)
    if result.status == "graded" and any(q.answer_id in penalties for q in questions
                                         if q.answer_id in answers):
        result.status = "graded with penalties"
    return result


# ---------------------------------------------------------------------------- grading many

def grade_submissions(source, submissions, out=None, cell_timeout=120, notebook_timeout=1800,
                      kernel_name="python3", env=None):
    """Grades every notebook in `submissions` against the instructor notebook `source`.

    Args:
        source: path of the instructor notebook (labs/NN_name.ipynb), with its hidden checks.
        submissions: folder of `<student>.ipynb` files or `<student>/<lab>.ipynb` folders.
        out: folder for results.json, scores.csv and <student>/results.json (None: write nothing).
        cell_timeout, notebook_timeout: seconds per cell, and per submission.
        kernel_name: the Jupyter kernel to run submissions in.
        env: environment variables for the kernels (default: this process's).

    Returns:
        The list of `StudentResult`, sorted by student.

    Raises:
        ValueError: the source fails the lint or has no graded question, or no submission found.
    """
    source_nb = fmt.read_notebook(source)
    problems = fmt.lint_notebook(source_nb, name=str(source))
    if problems:
        raise ValueError(f"{source} has format problems; fix them before grading:\n"
                         + "\n".join(f"  {p}" for p in problems))
    if not fmt.list_questions(source_nb):
        raise ValueError(f"{source} has no graded question (answer cell + check cell). "
                         f"Received: source={str(source)!r}")
    for name, value in (("cell_timeout", cell_timeout), ("notebook_timeout", notebook_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{name} should be a positive number of seconds. "
                             f"Received: {name}={value!r}")
    pairs = find_submissions(submissions)
    factory = make_kernel_factory(kernel_name, env)
    results = []
    for student, path in pairs:
        relative = str(path.relative_to(Path(submissions)))
        result = grade_notebook(source_nb, path, student=student, cell_timeout=cell_timeout,
                                notebook_timeout=notebook_timeout, kernel_factory=factory)
        result.submission = relative
        results.append(result)
    if out is not None:
        write_results(results, out, source_nb, source_name=Path(source).name)
    return results
