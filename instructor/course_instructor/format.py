"""The graded-notebook format: cell kinds, markers, questions, and the lint.

A lab in `labs/` is the instructor source. It follows nbgrader's conventions so
that an instructor who uses nbgrader can reuse it:

    answer cell  code, metadata.nbgrader = {solution: true, grade: false, locked: false, grade_id, ...}
                 the solution fenced by `# BEGIN SOLUTION` / `# END SOLUTION` (the
                 signature and docstring around the markers stay in the student's copy)
    check cell   code, metadata.nbgrader = {grade: true, solution: false, locked: true, points, grade_id, ...}
                 checks that only the grader runs fenced by `# BEGIN HIDDEN TESTS` / `# END HIDDEN TESTS`
    locked cell  metadata.nbgrader = {locked: true, solution: false, grade: false, grade_id, ...}

Every check cell belongs to the nearest answer cell above it; an answer cell and
its check cells form one question. Metadata of our own lives under the
`course_lib` key, never inside `nbgrader`.

Typical use:

    problems = lint_paths(["labs"])
    for problem in problems:
        print(problem)            # labs/01_x.ipynb: cell 12 (grade_id 'q1_relu'): ...
"""

import ast
import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SOLUTION = "SOLUTION"
HIDDEN = "HIDDEN TESTS"
BEGIN_SOLUTION = "# BEGIN SOLUTION"
END_SOLUTION = "# END SOLUTION"
BEGIN_HIDDEN = "# BEGIN HIDDEN TESTS"
END_HIDDEN = "# END HIDDEN TESTS"
STUB_LINES = ("# YOUR CODE HERE", "raise NotImplementedError()")
HIDDEN_NOTE = "# Hidden checks also run here when your notebook is graded."

NBGRADER_KEYS = {"grade", "grade_id", "locked", "points", "schema_version", "solution", "task",
                 "cell_type"}
OUR_KEY = "course_lib"

# A marker line: optional indentation, one or more '#', the words, nothing else.
_MARKER = re.compile(r"^(?P<indent>[ \t]*)#+[ \t]*(?P<which>BEGIN|END)[ \t]+"
                     r"(?P<kind>SOLUTION|HIDDEN TESTS)[ \t]*$")
_MARKER_WORDS = re.compile(r"(BEGIN|END)[ \t]+(SOLUTION|HIDDEN TESTS)")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class MarkerError(ValueError):
    """Markers in a cell are unmatched, nested or malformed."""


@dataclass(frozen=True)
class LintProblem:
    """One problem found by the lint, located precisely enough to fix it."""
    notebook: str
    cell_index: int | None
    grade_id: str | None
    message: str

    def __str__(self):
        where = self.notebook
        if self.cell_index is not None:
            where += f": cell {self.cell_index}"
            if self.grade_id:
                where += f" (grade_id {self.grade_id!r})"
        return f"{where}: {self.message}"


@dataclass
class Question:
    """An answer cell and the check cells that grade it."""
    answer_id: str
    answer_index: int
    check_ids: list = field(default_factory=list)
    check_indices: list = field(default_factory=list)
    check_points: list = field(default_factory=list)

    @property
    def points(self):
        return sum(self.check_points)


# ---------------------------------------------------------------------------- reading

def source_text(cell):
    """Returns a cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(source)
    return source


def read_notebook(path):
    """Reads a notebook as an `nbformat.NotebookNode` (version 4), with a clear error.

    Raises:
        ValueError: the file is not JSON or not a notebook.
    """
    path = Path(path)
    try:
        return nbformat.read(path, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a notebook: it is not valid JSON ({error}). "
                         f"Open it in Jupyter and save it again.") from None
    except (KeyError, AttributeError, TypeError, nbformat.ValidationError,
            nbformat.reader.NotJSONError) as error:
        raise ValueError(f"{path} is not a notebook that nbformat can read ({error!r}).") from None
    except RecursionError:
        raise ValueError(f"{path} is not a notebook: its JSON is nested too deeply to read (a "
                         f"notebook holds a few levels). Open it in Jupyter and save it "
                         f"again.") from None


def read_graded_source(source, action="grading"):
    """Reads an instructor notebook that can be graded: lint-clean, with at least one question.

    Raises:
        ValueError: the notebook is not readable, fails the lint, or has no graded question.
    """
    nb = read_notebook(source)
    problems = lint_notebook(nb, name=str(source))
    if problems:
        raise ValueError(f"{source} has format problems; fix them before {action}:\n"
                         + "\n".join(f"  {p}" for p in problems))
    if not list_questions(nb):
        raise ValueError(f"{source} has no graded question (answer cell + check cell). "
                         f"Received: source={str(source)!r}")
    return nb


def nbgrader_meta(cell):
    """Returns the cell's `nbgrader` metadata dict, or {} when it has none."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def cell_kind(cell):
    """Returns 'answer', 'check', 'locked', 'manual', 'task' or 'plain' for a cell."""
    meta = nbgrader_meta(cell)
    if not meta:
        return "plain"
    if meta.get("task"):
        return "task"
    solution, grade = bool(meta.get("solution")), bool(meta.get("grade"))
    if solution and grade:
        return "manual"
    if solution:
        return "answer"
    if grade:
        return "check"
    return "locked" if meta.get("locked") else "plain"


def grade_id(cell):
    """Returns the cell's grade_id or None."""
    value = nbgrader_meta(cell).get("grade_id")
    return value if isinstance(value, str) else None


def list_questions(nb):
    """Returns the questions of a notebook, in order.

    Each check cell belongs to the nearest answer cell above it. Check cells with
    no answer cell above them are ignored here (the lint reports them).
    """
    questions = []
    for index, cell in enumerate(nb["cells"]):
        kind = cell_kind(cell)
        if kind == "answer":
            questions.append(Question(grade_id(cell), index))
        elif kind == "check" and questions:
            question = questions[-1]
            question.check_ids.append(grade_id(cell))
            question.check_indices.append(index)
            question.check_points.append(_points(cell))
    return questions


def _points(cell):
    points = nbgrader_meta(cell).get("points")
    if isinstance(points, bool) or not isinstance(points, (int, float)):
        return 0
    return points


# ---------------------------------------------------------------------------- markers

def find_regions(source, kind):
    """Returns the (begin_line, end_line) pairs of `kind` regions ('SOLUTION' or 'HIDDEN TESTS').

    Line numbers are 0-based indices into `source.split("\\n")`, the markers included.

    Raises:
        MarkerError: a marker is malformed, unmatched, or regions are nested.
    """
    regions = []
    open_at = None
    open_kind = None
    for number, line in enumerate(source.split("\n")):
        match = _MARKER.match(line)
        if match is None:
            if _MARKER_WORDS.search(line):
                raise MarkerError(
                    f"line {number + 1} mentions a marker but is not one: {line.strip()!r}. "
                    f"A marker is a comment line on its own, e.g. '# BEGIN SOLUTION'.")
            continue
        which, found = match.group("which"), match.group("kind")
        if which == "BEGIN":
            if open_at is not None:
                raise MarkerError(
                    f"line {number + 1}: '# BEGIN {found}' inside the '# BEGIN {open_kind}' "
                    f"region opened on line {open_at + 1}; regions cannot be nested. "
                    f"Close the first region with '# END {open_kind}' before opening another.")
            open_at, open_kind = number, found
        else:
            if open_at is None or open_kind != found:
                raise MarkerError(
                    f"line {number + 1}: '# END {found}' without a matching '# BEGIN {found}' "
                    f"above it. Add the BEGIN marker or remove this line.")
            if found == kind:
                regions.append((open_at, number))
            open_at, open_kind = None, None
    if open_at is not None:
        raise MarkerError(f"line {open_at + 1}: '# BEGIN {open_kind}' is never closed. "
                          f"Add '# END {open_kind}' after the region.")
    return regions


def has_marker(source, kind=None):
    """Returns True if the source has a marker line (of `kind`, or of any kind)."""
    for line in source.split("\n"):
        match = _MARKER.match(line)
        if match and (kind is None or match.group("kind") == kind):
            return True
        if kind is None and _MARKER_WORDS.search(line):
            return True
    return False


def stub_solution(source):
    """Replaces every solution region by `# YOUR CODE HERE` / `raise NotImplementedError()`.

    The stub keeps the indentation of the `# BEGIN SOLUTION` line, so markers
    inside a function body give a function that raises `NotImplementedError`.
    """
    lines = source.split("\n")
    for begin, end in reversed(find_regions(source, SOLUTION)):
        indent = _MARKER.match(lines[begin]).group("indent")
        lines[begin:end + 1] = [indent + line for line in STUB_LINES]
    return "\n".join(lines)


def remove_hidden_tests(source, note=HIDDEN_NOTE):
    """Removes hidden-test regions; the first one is replaced by `note` (if not None)."""
    lines = source.split("\n")
    regions = find_regions(source, HIDDEN)
    for position, (begin, end) in enumerate(reversed(regions)):
        indent = _MARKER.match(lines[begin]).group("indent")
        first = position == len(regions) - 1
        lines[begin:end + 1] = [indent + note] if (first and note) else []
    return "\n".join(lines)


def check_segments(source):
    """Splits a check cell into ('visible', code) and ('hidden', code) segments, in order.

    Marker lines are dropped and blank segments skipped. The grader runs each
    segment on its own, so it can tell a failing hidden check from a visible one.
    """
    lines = source.split("\n")
    segments = []
    cursor = 0
    for begin, end in find_regions(source, HIDDEN):
        segments.append(("visible", "\n".join(lines[cursor:begin])))
        segments.append(("hidden", "\n".join(lines[begin + 1:end])))
        cursor = end + 1
    segments.append(("visible", "\n".join(lines[cursor:])))
    return [(kind, code) for kind, code in segments if code.strip()]


def defined_names(source):
    """Returns the names a cell binds at top level (defs, classes, assignments, imports).

    Returns an empty set when the source does not parse.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return bound_names(tree.body)


def bound_names(statements):
    """Returns the names a list of AST statements binds in their own scope."""
    names = set()

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                targets(element)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    def visit(statements):
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    targets(target)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets(node.target)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                visit(node.body)
            elif isinstance(node, (ast.If, ast.While)):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                visit(node.orelse)
                visit(node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names.add((alias.asname or alias.name).split(".")[0])
    visit(statements)
    return names


def _has_magics(source):
    return any(line.lstrip().startswith(("%", "!")) for line in source.split("\n"))


def _compiles(source):
    """Returns None if `source` parses as Python (magic lines skipped), else the error text."""
    if _has_magics(source):
        source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                           for line in source.split("\n"))
    try:
        ast.parse(source)
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    return None


# ---------------------------------------------------------------------------- lint

def lint_notebook(nb, name="notebook"):
    """Returns the format problems of one notebook (an empty list when it is fine).

    Args:
        nb: a notebook (`nbformat.NotebookNode` or dict), or a path to one.
        name: how messages name the notebook (defaults to the path when given one).

    Returns:
        A list of `LintProblem`, in cell order.
    """
    if isinstance(nb, (str, Path)):
        name = str(nb) if name == "notebook" else name
        try:
            nb = read_notebook(nb)
        except ValueError as error:
            return [LintProblem(name, None, None, str(error))]
    problems = []

    def report(index, cell_id, message):
        problems.append(LintProblem(name, index, cell_id, message))

    cells = nb.get("cells")
    if not isinstance(cells, list):
        return [LintProblem(name, None, None, "has no 'cells' list; it is not a notebook.")]
    seen = {}
    modules = None              # names imported anywhere in the notebook (for the check-cell rules)
    current_answer = None       # (index, grade_id) of the answer the next checks belong to
    answer_has_check = {}
    for index, cell in enumerate(cells):
        raw_meta = cell.get("metadata", {}).get("nbgrader")
        source = source_text(cell)
        kind = cell_kind(cell)
        gid = grade_id(cell)
        cell_type = cell.get("cell_type")
        if raw_meta is not None:
            if not isinstance(raw_meta, dict):
                report(index, None, "metadata 'nbgrader' should be a dict of nbgrader keys.")
                continue
            unknown = sorted(set(raw_meta) - NBGRADER_KEYS)
            if unknown:
                report(index, gid, f"unknown nbgrader metadata keys {unknown}; put metadata of "
                                   f"our own under the {OUR_KEY!r} key instead.")
            if raw_meta.get("schema_version") != 3:
                report(index, gid, f"nbgrader schema_version should be 3, got "
                                   f"{raw_meta.get('schema_version')!r}.")
            for key in ("solution", "grade", "locked"):
                if key in raw_meta and not isinstance(raw_meta[key], bool):
                    report(index, gid, f"nbgrader {key!r} should be true or false, got "
                                       f"{raw_meta[key]!r}.")
            if gid is None or not _GRADE_ID.match(gid):
                report(index, gid, f"nbgrader grade_id should be a non-empty name of letters, "
                                   f"digits, '_' or '-', got {raw_meta.get('grade_id')!r}.")
            elif gid in seen:
                report(index, gid, f"duplicate grade_id (also used by cell {seen[gid]}); "
                                   f"give each cell its own grade_id.")
            else:
                seen[gid] = index
        if cell_type == "code":
            from course_instructor.judge import lint_check_imports
            for message in lint_check_imports(source):
                report(index, gid, message)
        if kind in ("manual", "task"):
            report(index, gid, f"{'manually graded answers' if kind == 'manual' else 'task cells'} "
                               f"are not supported by course-lib grade; use an answer cell "
                               f"(solution: true, grade: false) followed by a check cell.")
            continue
        try:
            solution_regions = find_regions(source, SOLUTION)
            hidden_regions = find_regions(source, HIDDEN)
        except MarkerError as error:
            report(index, gid, f"{error}")
            continue
        if kind == "answer":
            if cell_type != "code":
                report(index, gid, "answer cells must be code cells (nbgrader's written "
                                   "answers are not graded automatically).")
            if raw_meta.get("locked"):
                report(index, gid, "an answer cell must not be locked (locked: false), "
                                   "or the student cannot write in it.")
            if hidden_regions:
                report(index, gid, "hidden-test markers belong in check cells, not answer "
                                   "cells; move the hidden checks to the check cell below.")
            if not solution_regions:
                report(index, gid, "answer cell without '# BEGIN SOLUTION' / '# END SOLUTION'; "
                                   "fence the solution (the signature and docstring may stay "
                                   "outside) or remove the nbgrader metadata.")
            else:
                lines = source.split("\n")
                for begin, end in solution_regions:
                    if not "\n".join(lines[begin + 1:end]).strip():
                        report(index, gid, f"the solution region starting on line {begin + 1} "
                                           f"is empty; write the reference solution in it.")
                error = _compiles(stub_solution(source))
                if error:
                    report(index, gid, f"the student's stub does not parse ({error}); put the "
                                       f"markers around whole statements inside a block.")
            our_meta = cell.get("metadata", {}).get(OUR_KEY)
            if isinstance(our_meta, dict) and "forbidden" in our_meta:
                from course_instructor.forbidden import check_forbidden
                for message in check_forbidden(our_meta["forbidden"]):
                    report(index, gid, message)
            current_answer = (index, gid)
            answer_has_check[(index, gid)] = False
        elif kind == "check":
            if cell_type != "code":
                report(index, gid, "check cells must be code cells.")
            points = raw_meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
                report(index, gid, f"a check cell needs positive points, got {points!r}; "
                                   f"add e.g. \"points\": 1 to its nbgrader metadata.")
            if not raw_meta.get("locked"):
                report(index, gid, "a check cell should be locked (locked: true) so students "
                                   "do not edit it.")
            if solution_regions:
                report(index, gid, "solution markers belong in answer cells, not check cells.")
            if current_answer is None:
                report(index, gid, "check cell with no answer cell above it; every check "
                                   "grades the answer cell before it.")
            else:
                answer_has_check[current_answer] = True
            lines = source.split("\n")
            if any(_MARKER.match(lines[begin]).group("indent") or
                   _MARKER.match(lines[end]).group("indent") for begin, end in hidden_regions):
                report(index, gid, "hidden-test markers must start at the beginning of the line "
                                   "(column 0): the grader runs each hidden region as its own "
                                   "block of top-level statements.")
            for segment_kind, code in check_segments(source):
                error = _compiles(code)
                if error:
                    report(index, gid, f"a {segment_kind} part of this check cell does not parse "
                                       f"on its own ({error}); hidden-test regions must hold "
                                       f"whole top-level statements.")
            error = _compiles(remove_hidden_tests(source))
            if error:
                report(index, gid, f"the released check cell does not parse ({error}).")
            from course_instructor.judge import lint_check_cell, notebook_modules
            if modules is None:
                modules = frozenset(notebook_modules(nb))
            for message in lint_check_cell(source, modules):
                report(index, gid, message)
        else:
            if solution_regions or hidden_regions or has_marker(source):
                report(index, gid, "markers are only allowed in answer cells (solution) and "
                                   "check cells (hidden tests); add the nbgrader metadata or "
                                   "remove the markers.")
    for (index, gid), has_check in answer_has_check.items():
        if not has_check:
            report(index, gid, "answer cell without a check cell after it; add a check cell "
                               "(grade: true, points) before the next answer cell.")
    problems.sort(key=lambda p: (-1 if p.cell_index is None else p.cell_index))
    return problems


def lint_paths(paths):
    """Lints notebooks and folders of notebooks (`*.ipynb`, not recursive).

    Raises:
        ValueError: a path does not exist or a folder holds no notebook.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    problems = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            notebooks = sorted(path.glob("*.ipynb"))
            if not notebooks:
                raise ValueError(f"{path} holds no notebook (*.ipynb). Received: paths={paths!r}")
        elif path.is_file():
            notebooks = [path]
        else:
            raise ValueError(f"{path} does not exist. Pass notebooks or folders of notebooks, "
                             f"e.g. labs/. Received: paths={paths!r}")
        for notebook in notebooks:
            problems.extend(lint_notebook(notebook))
    return problems


def copy_notebook(nb):
    """Returns a deep copy of a notebook as a NotebookNode."""
    return nbformat.from_dict(copy.deepcopy(nb))
