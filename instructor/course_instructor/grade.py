"""Grade student submissions against the instructor's source notebook.

    course-lib grade --source labs/00_prepare_data.ipynb --submissions submitted/ --out grades/

The student's kernel only computes; it is judged from outside (docs/check-cells.md):

1. **Reference run** (once per grading session, cached by source and fast mode): the
   instructor's source, solutions in place, runs in a trusted kernel in an empty
   temporary folder; each check call records its grader-side arguments (expected
   values, tolerances, names, hints) as plain data (`judge.py`).
2. **Student run** (one sandboxed kernel per submission, `sandbox.make_kernel_factory`):
   only the student's answer cells are taken, matched by nbgrader `grade_id` (or,
   if a tool dropped the metadata, by cell id); everything else comes from the
   source. Check cells run with every check call replaced by a call that hands back
   the value as plain data; grader-side arguments, and statements that only feed
   them, are removed before the code is sent. A missing answer runs as the stub.
3. **Judging**, in this process: the n-th check call of each region (the visible
   part, each hidden region) is compared with the reference's n-th with
   `course_lib.checks.compare_*`. A region passes when it ran without error, made
   the same number of check calls as the reference, and every comparison holds.
4. **From-scratch questions** (answer metadata `course_lib.forbidden`): the cells up
   to the question's last check cell run again with a copy of course_lib where those
   references raise (`forbidden.py`); if the question's checks do not pass there, it
   scores 0 with the reason. Several such questions are first re-run together, all
   their references poisoned; only those that fail there are re-run on their own.
5. A cell that runs past `cell_timeout` or kills the kernel costs its question: the
   notebook is re-run in a fresh kernel with that answer replaced by its stub (at most
   `MAX_RESTARTS` times). A submission that runs past `notebook_timeout` keeps what it
   had scored. Nothing a submission does stops the run over the others.

Feedback: a failing visible check shows the check's message (what the student sees in
their own notebook); a failing hidden check says "A hidden check failed (wrong result)"
and nothing of its code or values; an exception shows its type (a built-in exception
name, else "an exception"), never its message (text the student's code chose).

Outputs (`results.write_results`): `results.json`, `scores.csv` and one Gradescope
`<student>/results.json`. Same submissions, same results.
"""

import builtins
import errno
import hashlib
import json
import os
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_instructor import format as fmt
from course_instructor import judge
from course_instructor.forbidden import forbidden_names, poisoned_copy
from course_instructor.kernel import KernelSession
from course_instructor.sandbox import make_kernel_factory

from course_instructor.results import ResultsWriter

MAX_RESTARTS = 3
MAX_SUBMISSION_BYTES = 64 * 2**20   # a submitted notebook larger than this is not read
_KNOWN_ERRORS = {name for name, value in vars(builtins).items()
                 if isinstance(value, type) and issubclass(value, BaseException)} | {
    "CheckError", "InvalidArgumentError", "ForbiddenReferenceError", "DeadKernelError"}
HIDDEN_FAILED = ("A hidden check failed ({kind}). Your answer passes the visible checks but not "
                 "the instructor's other cases: try other inputs (edge cases, other shapes, "
                 "other sizes).")
NOT_ANSWERED = ("Not answered yet (NotImplementedError): replace `raise NotImplementedError()` "
                "by your code.")


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
    raw = read_capped(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a notebook: the file is not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError("not a notebook: its JSON is nested too deeply to read (a notebook "
                         "holds a few levels; save it again from Jupyter)") from None
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
        elif isinstance(cell.get("id"), str) and cell.get("id") in by_cell_id:
            by_id[by_cell_id[cell["id"]]] = source
    for gid, source in by_id.items():
        if gid not in answers:
            notes.append(f"answer cell {gid!r} had lost its grading metadata; matched by cell id")
            answers[gid] = source
    for gid in sorted(wanted - set(answers)):
        notes.append(f"answer cell {gid!r} is missing (deleted, or its metadata removed); "
                     f"it scores 0")
    return answers, notes


def read_capped(path, max_bytes=None):
    """The bytes of the regular file `path`, not following a symbolic link, at most `max_bytes`.

    Raises:
        ValueError: `path` is a symbolic link, not a regular file (a device, a FIFO, a
            folder), or larger than `max_bytes` (default `MAX_SUBMISSION_BYTES`).
    """
    max_bytes = MAX_SUBMISSION_BYTES if max_bytes is None else max_bytes
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    if path.is_symlink():
        raise ValueError(f"not a notebook: {path.name} is a symbolic link (to "
                         f"{os.readlink(path)!r}); submit the notebook file itself")
    try:
        handle = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"not a notebook: {path.name} is a symbolic link; submit the "
                             f"notebook file itself") from None
        raise
    with os.fdopen(handle, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"not a notebook: {path.name} is not a regular file (a device, "
                             f"a pipe or a folder); submit the notebook file itself")
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"not a notebook the grader reads: {path.name} is larger than "
                         f"{max_bytes // 2**20} MB (clear its outputs: Edit > Clear Outputs "
                         f"of All Cells, then save)")
    return data


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
    # A name shared by several notebooks becomes each one's path (unique, since paths are).
    named = [(student if counts[student] == 1
              else path.relative_to(root).with_suffix("").as_posix(), path)
             for student, path in found]
    names = [student for student, _ in named]
    if len(set(names)) != len(names):   # e.g. `a.ipynb` beside `a/` holding `a.ipynb`... as `a`
        named = [(path.relative_to(root).with_suffix("").as_posix(), path) for _, path in found]
    return named


# ---------------------------------------------------------------------------- the reference

@dataclass
class RegionRun:
    """What one region of a check cell did in a kernel."""
    ok: bool
    records: list
    error: str = ""             # exception type (sanitised) or a reason


@dataclass
class Reference:
    """The instructor's run: the plan of every check cell and what its calls recorded."""
    plan: dict                  # check cell index -> [judge.Region]
    runs: dict                  # check cell index -> [RegionRun]
    problems: list              # cells of the source that failed (for verify)


_REFERENCE_CACHE = {}


def error_name(ename):
    """The exception's type if it is a known (built-in or library) exception, else 'an exception'."""
    return ename if isinstance(ename, str) and ename in _KNOWN_ERRORS else "an exception"


def _source_key(source_nb, env):
    text = json.dumps([[c.cell_type, fmt.source_text(c), c.get("metadata", {})]
                       for c in source_nb.cells], sort_keys=True, default=str)
    fast = (env if env is not None else os.environ).get("COURSE_LIB_FAST", "")
    return hashlib.sha256(text.encode()).hexdigest(), fast


def run_reference(source_nb, env=None, kernel_name="python3", cell_timeout=600, cache=True):
    """Runs the instructor's source once in a trusted kernel; returns a `Reference`.

    Cached in this process by the source's content and COURSE_LIB_FAST.

    Raises:
        RuntimeError: the reference kernel died, timed out, or could not start.
    """
    key = _source_key(source_nb, env)
    if cache and key in _REFERENCE_CACHE:
        return _REFERENCE_CACHE[key]
    plan = judge.plan_notebook(source_nb)
    runs, problems = {}, []
    with tempfile.TemporaryDirectory(prefix="course-lib-reference-") as folder:
        with KernelSession(kernel_name=kernel_name, cwd=folder, env=env) as kernel:
            prelude = kernel.run(judge.REFERENCE_PRELUDE, timeout=60)
            if not prelude.ok:
                raise RuntimeError(f"the reference kernel could not start the grader's prelude: "
                                   f"{prelude.ename}: {prelude.evalue}")
            for index, cell in enumerate(source_nb.cells):
                if cell.cell_type != "code":
                    continue
                if index in plan:
                    runs[index] = []
                    for region in plan[index]:
                        result = kernel.run(region.reference, cell_timeout)
                        _stop_if_fatal(result, index)
                        records, problem = judge.read_records(result.outputs, with_args=True)
                        if not result.ok or problem:
                            problems.append((index, f"{result.ename}: {result.evalue}"
                                             if not result.ok else problem))
                        runs[index].append(RegionRun(result.ok and not problem, records,
                                                     result.ename or problem or ""))
                    continue
                result = kernel.run(fmt.source_text(cell), cell_timeout)
                _stop_if_fatal(result, index)
                if not result.ok and "raises-exception" not in cell.metadata.get("tags", []):
                    problems.append((index, f"{result.ename}: {result.evalue}"))
    reference = Reference(plan, runs, problems)
    if cache:
        _REFERENCE_CACHE[key] = reference
    return reference


def _stop_if_fatal(result, index):
    if result.fatal:
        raise RuntimeError(f"the instructor's source failed in the reference kernel at cell "
                           f"{index}: {result.status} ({result.evalue})")


# ---------------------------------------------------------------------------- judging

def judge_check(reference_runs, student_runs, hidden_kinds):
    """Returns the `CheckOutcome` of one check cell from its regions' runs (both sides)."""
    for position, reference in enumerate(reference_runs):
        hidden = hidden_kinds[position] == "hidden"
        if not reference.ok:
            return CheckOutcome(False, "This check failed in the instructor's own run; "
                                       "tell your instructor.")
        if position >= len(student_runs):
            return CheckOutcome(False, "not run")
        mine = student_runs[position]
        if not mine.ok:
            if mine.error == "NotImplementedError":
                return CheckOutcome(False, NOT_ANSWERED)
            if hidden:
                return CheckOutcome(False, HIDDEN_FAILED.format(kind=error_name(mine.error)))
            return CheckOutcome(False, f"{error_name(mine.error)} raised while running the "
                                       f"visible checks (run the check cell in your notebook "
                                       f"to see the message).")
        verdict = judge.judge_region(mine.records, reference.records)
        if verdict is None:
            continue
        if hidden:
            return CheckOutcome(False, HIDDEN_FAILED.format(kind="wrong result"))
        if verdict[0] == "compare":
            return CheckOutcome(False, verdict[1])
        return CheckOutcome(False, f"the visible checks made {verdict[1]} check call(s) where "
                                   f"{verdict[2]} were expected (an empty result, or a loop "
                                   f"that ran another number of times?).")
    return CheckOutcome(True, "passed")


class _Run:
    """One attempt at running a submission (a fresh kernel)."""

    def __init__(self, source_nb, reference, questions, answers, stubbed, skipped, kernel_factory,
                 cell_timeout, deadline, last_cell=None):
        self.nb, self.reference, self.questions, self.answers = source_nb, reference, questions, answers
        self.stubbed, self.skipped = stubbed, skipped
        self.kernel_factory, self.cell_timeout, self.deadline = kernel_factory, cell_timeout, deadline
        self.last_cell = len(source_nb.cells) - 1 if last_cell is None else last_cell
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
            prelude = kernel.run(judge.STUDENT_PRELUDE, timeout=60)
            if not prelude.ok:
                raise RuntimeError(f"the grader's prelude failed in the kernel: {prelude.ename}: "
                                   f"{prelude.evalue}. Is course_lib installed in the kernel's "
                                   f"environment?")
            for index, cell in enumerate(self.nb.cells[:self.last_cell + 1]):
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
                elif index not in self.skipped:
                    result = kernel.run(fmt.source_text(cell), self._timeout())
                    if result.fatal:
                        self.fatal = (index, None, self._fatal_reason(result, f"cell {index}"), True)
                        return
                    if not result.ok and "raises-exception" not in cell.metadata.get("tags", []):
                        self.cell_errors.append(f"cell {index} raised {error_name(result.ename)}")
        finally:
            kernel.stop()

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
            self.answer_errors[gid] = error_name(result.ename)
        return True

    def _check(self, kernel, index, cell):
        question = self.owner[index]
        gid = fmt.grade_id(cell)
        regions = self.reference.plan[index]
        runs = []
        for region in regions:
            result = kernel.run(region.student, self._timeout())
            if result.fatal:
                self.fatal = (index, question,
                              self._fatal_reason(result, f"the check {gid!r} (calling your code)"),
                              True)
                return False
            records, problem = judge.read_records(result.outputs)
            runs.append(RegionRun(result.ok and problem is None, records,
                                  result.ename if not result.ok else "" if problem is None
                                  else "malformed"))
            if not runs[-1].ok:
                break
        self.checks[gid] = judge_check(self.reference.runs[index], runs,
                                       [r.kind for r in regions])
        return True


def _run_with_restarts(source_nb, reference, questions, answers, penalties, kernel_factory,
                       cell_timeout, deadline, notes, last_cell=None):
    """Runs a submission, restarting with the stub after a fatal cell; returns (run, incomplete)."""
    stubbed, skipped = set(penalties), set()
    run = None
    for attempt in range(MAX_RESTARTS + 1):
        run = _Run(source_nb, reference, questions, answers, stubbed, skipped, kernel_factory,
                   cell_timeout, deadline, last_cell)
        run.execute()
        if run.fatal is None:
            return run, False
        index, question, reason, retry = run.fatal
        notes.append(reason)
        if not retry or attempt == MAX_RESTARTS:
            return run, True
        if question is not None:
            penalties[question.answer_id] = f"Scored 0: {reason}."
            stubbed.add(question.answer_id)
        else:
            skipped.add(index)
    return run, True


def grade_notebook(source_nb, submission, student="student", cell_timeout=120,
                   notebook_timeout=1800, kernel_factory=None, reference=None,
                   poisoned_factory=None):
    """Grades one submitted notebook; returns a `StudentResult` (never raises for its content).

    Args:
        source_nb: the instructor's notebook (NotebookNode), lint-clean.
        submission: path of the submitted .ipynb.
        student: the name written in the results.
        cell_timeout: seconds any one cell may run.
        notebook_timeout: seconds the whole submission may run (all restarts included).
        kernel_factory: callable returning a fresh kernel (default: `make_kernel_factory()`,
            sandboxed).
        reference: the `Reference` of `source_nb` (default: `run_reference(source_nb)`).
        poisoned_factory: callable(course_lib_dir) -> kernel factory for from-scratch
            questions (default: `make_kernel_factory(course_lib_dir=...)`).
    """
    questions = fmt.list_questions(source_nb)
    result = StudentResult(student, str(submission))

    def tests_from(checks, penalties, answer_errors, not_run="not run"):
        tests = []
        for q in questions:
            for gid, points in zip(q.check_ids, q.check_points):
                outcome = checks.get(gid, CheckOutcome(False, not_run))
                message = penalties.get(q.answer_id) or outcome.message
                if not outcome.passed and q.answer_id in answer_errors and q.answer_id not in penalties:
                    message = f"Your answer cell raised {answer_errors[q.answer_id]}.\n{message}"
                passed = outcome.passed and q.answer_id not in penalties
                tests.append({"name": gid, "question": q.answer_id, "score": points if passed else 0,
                              "max_score": points, "output": "passed" if passed else message})
        return tests

    try:
        answers, notes = read_submission(submission, source_nb)
    except (ValueError, OSError) as error:
        result.status = "malformed"
        result.notes.append(f"{error}; every question scores 0")
        result.tests = tests_from({}, {q.answer_id: f"not graded: {error}" for q in questions}, {})
        return result
    result.notes.extend(notes)
    penalties = {q.answer_id: "Missing: no answer cell with this grade_id was submitted."
                 for q in questions if q.answer_id not in answers}
    if not any(q.answer_id in answers for q in questions):
        result.status = "no answers"
        result.tests = tests_from({}, penalties, {})
        return result
    if reference is None:
        reference = run_reference(source_nb)
    if kernel_factory is None:
        kernel_factory = make_kernel_factory()
    deadline = time.monotonic() + notebook_timeout
    run, incomplete = _run_with_restarts(source_nb, reference, questions, answers, penalties,
                                         kernel_factory, cell_timeout, deadline, result.notes)
    if incomplete:
        result.status = "incomplete"
    if run.cell_errors:
        result.notes.extend(f"{error} (not graded)" for error in run.cell_errors)
    penalties.update(_from_scratch_penalties(source_nb, reference, questions, answers, penalties,
                                             run.checks, poisoned_factory, cell_timeout, deadline))
    not_run = f"Not run: {result.notes[-1]}." if incomplete else "not run"
    result.tests = tests_from(run.checks, penalties, run.answer_errors, not_run)
    if result.status == "graded" and any(q.answer_id in penalties for q in questions
                                         if q.answer_id in answers):
        result.status = "graded with penalties"
    return result


_POISONED = {}


def poisoned_library(names):
    """A copy of course_lib with `names` made to raise (built once per set of names)."""
    key = tuple(sorted(names))
    if key not in _POISONED:
        folder = tempfile.mkdtemp(prefix="course-lib-forbidden-")
        os.chmod(folder, 0o755)         # readable by a kernel run as another user
        _POISONED[key] = poisoned_copy(list(key), folder)
    return _POISONED[key]


def _from_scratch_penalties(source_nb, reference, questions, answers, penalties, checks,
                            poisoned_factory, cell_timeout, deadline):
    """Penalties for from-scratch questions whose checks pass only with their forbidden references.

    Only questions that passed are re-run. With several, one run with all their references
    poisoned comes first (an honest submission needs no more); a question that fails there
    is re-run with only its own references poisoned (a later cell may use an earlier
    question's reference legitimately).
    """
    def passed(run, question):
        return all(run.checks.get(gid, CheckOutcome()).passed for gid in question.check_ids)

    def poisoned_run(names, last_cell):
        factory = (poisoned_factory or _default_poisoned_factory)(poisoned_library(names))
        run, _ = _run_with_restarts(source_nb, reference, questions, answers, dict(penalties),
                                    factory, cell_timeout, deadline, [], last_cell=last_cell)
        return run

    todo = [(q, forbidden_names(source_nb.cells[q.answer_index])) for q in questions
            if q.answer_id not in penalties and q.check_ids and all(
                checks.get(gid, CheckOutcome()).passed for gid in q.check_ids)]
    todo = [(q, names) for q, names in todo if names]
    if len(todo) > 1:
        union = sorted({name for _, names in todo for name in names})
        run = poisoned_run(union, max(q.check_indices[-1] for q, _ in todo))
        todo = [(q, names) for q, names in todo if not passed(run, q)]
    found = {}
    for question, names in todo:
        if passed(poisoned_run(names, question.check_indices[-1]), question):
            continue
        found[question.answer_id] = (
            f"Scored 0: this question is to be answered from scratch, without "
            f"{', '.join(names)}. Your answer's checks pass only when "
            f"{'that reference is' if len(names) == 1 else 'those references are'} available "
            f"(whatever alias it uses).")
    return found


def _default_poisoned_factory(library):
    return make_kernel_factory(course_lib_dir=library)


# ---------------------------------------------------------------------------- grading many

def _factories(kernel_name, env, sandbox, limits=None, run_as_user=None):
    user = {} if run_as_user is None else {"run_as_user": run_as_user}

    def factory_for(course_lib_dir=None):
        if sandbox or course_lib_dir is None:
            return make_kernel_factory(kernel_name=kernel_name, env=env, sandbox=sandbox,
                                       course_lib_dir=course_lib_dir, limits=limits, **user)
        # Without the sandbox the copy goes first on the kernel's path (a weaker guarantee:
        # the real package stays readable on disk).
        plain_env = dict(os.environ if env is None else env)
        plain_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(Path(course_lib_dir).parent), plain_env.get("PYTHONPATH")) if p)
        return make_kernel_factory(kernel_name=kernel_name, env=plain_env, sandbox=False,
                                   limits=limits, **user)
    return factory_for


def grade_submissions(source, submissions, out=None, cell_timeout=120, notebook_timeout=1800,
                      kernel_name="python3", env=None, sandbox=True, limits=None,
                      run_as_user=None, progress=False):
    """Grades every notebook in `submissions` against the instructor notebook `source`.

    Args:
        source: path of the instructor notebook (labs/NN_name.ipynb), with its hidden checks.
        submissions: folder of `<student>.ipynb` files or `<student>/<lab>.ipynb` folders.
        out: folder for results.json, scores.csv and <student>/results.json (None: write nothing).
        cell_timeout, notebook_timeout: seconds per cell, and per submission.
        kernel_name: the Jupyter kernel to run submissions in.
        env: environment variables for the kernels (default: this process's).
        sandbox: run each submission in the OS sandbox (`sandbox.py`); False only for
            trusted submissions.
        limits: the sandbox's `Limits` (default: `Limits()`).
        run_as_user: with sandbox=False, the user the kernels run as (`make_kernel_factory`).
        progress: show a progress bar on stderr (the student being graded, time so far).

    Returns:
        The list of `StudentResult`, sorted by student.

    Raises:
        ValueError: the source fails the lint or has no graded question, or no submission found.
        RuntimeError: the instructor's source fails in the reference kernel.
    """
    source_nb = fmt.read_graded_source(source, "grading")
    for name, value in (("cell_timeout", cell_timeout), ("notebook_timeout", notebook_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{name} should be a positive number of seconds. "
                             f"Received: {name}={value!r}")
    pairs = find_submissions(submissions)
    factory_for = _factories(kernel_name, env, sandbox, limits, run_as_user)
    factory = factory_for()
    writer = None if out is None else ResultsWriter(out, source_nb, source_name=Path(source).name)
    results = []
    bar = _progress_bar(len(pairs), progress)
    try:
        bar.set_postfix_str("reference run (the instructor's source)")
        reference = run_reference(source_nb, env=env, kernel_name=kernel_name)
        for student, path in pairs:
            bar.set_postfix_str(student)
            relative = str(path.relative_to(Path(submissions)))
            try:
                result = grade_notebook(source_nb, path, student=student,
                                        cell_timeout=cell_timeout,
                                        notebook_timeout=notebook_timeout, kernel_factory=factory,
                                        reference=reference, poisoned_factory=factory_for)
            except Exception as error:  # noqa: BLE001 - one submission never stops the others
                result = _failed(source_nb, student, error)
            result.submission = relative
            results.append(result)
            if writer is not None:
                writer.add(result)
            bar.update(1)
        if writer is not None:
            writer.finish()
    finally:
        bar.close()
    return results


def _progress_bar(total, progress):
    """A tqdm bar on stderr (student being graded, elapsed time), or a silent stand-in."""
    if not progress:
        class Silent:
            def set_postfix_str(self, text):
                pass

            def update(self, count):
                pass

            def close(self):
                pass
        return Silent()
    from tqdm import tqdm
    return tqdm(total=total, unit="submission", desc="grading", dynamic_ncols=True,
                bar_format="{desc}: {n}/{total} |{bar}| {elapsed} elapsed, {remaining} left "
                           "[{postfix}]")


def _failed(source_nb, student, error):
    """The result of a submission the grader itself failed on: every question 0, a note."""
    result = StudentResult(student, "", status="grader error")
    result.notes.append(f"the grader failed on this submission ({error_name(type(error).__name__)}"
                        f"); every question scores 0: tell your instructor")
    for q in fmt.list_questions(source_nb):
        for gid, points in zip(q.check_ids, q.check_points):
            result.tests.append({"name": gid, "question": q.answer_id, "score": 0,
                                 "max_score": points, "output": "not graded (grader error)"})
    return result
