"""Check cells split in two: what the student's kernel runs, what the reference kernel records.

docs/check-cells.md describes the format. For each check cell:

- `student` code: every check call becomes `__course_lib_value__(index, kind, value)`,
  the grader-side arguments (expected values, tolerances, names, hints, messages)
  removed, and so is every statement that only feeds them. Comments (and so the
  hidden regions' text) are gone too: the code is rebuilt from its syntax tree.
- `reference` code: every check call becomes `__course_lib_record__(index, kind,
  <the call's own arguments>)`, which records the grader-side arguments and the
  solution's value as plain data.

Both kernels hand records back as display outputs of MIME type `MIME` (JSON text);
`read_records` parses them strictly (a malformed or forged record is only a wrong
answer). `judge_region` compares in the grader's process with
`course_lib.checks.compare_*`.

    plan = plan_notebook(nb)                  # cell index -> [Region(kind, student, reference)]
    records, problem = read_records(result.outputs)
"""

import ast
import json
from dataclasses import dataclass

from course_instructor import format as fmt
from course_lib import checks

MIME = "text/x-course-lib-record"
VALUE_CALL = "__course_lib_value__"
RECORD_CALL = "__course_lib_record__"
HELPERS = checks.KINDS                     # check_close -> 'close', ...
MAX_RECORD_CHARS = 8_000_000
MAX_RECORDS = 10_000
_VALUE_KEYWORD = {"true": "condition"}

# Sent once to the student's kernel (untrusted: whatever it does with this only changes its own values).
STUDENT_PRELUDE = f'''
def {VALUE_CALL}(index, kind, value):
    import json as _json
    from IPython.display import publish_display_data as _publish
    import course_lib.checks as _checks
    try:
        plain = _checks.to_plain(value, kind)
        text = _json.dumps({{"i": index, "k": kind, "v": _checks.encode_plain(plain)}})
    except Exception:
        text = None
    if text is None or len(text) > {MAX_RECORD_CHARS}:
        reason = "not_plain" if text is None else "too_large"
        invalid = _checks.encode_plain(_checks.Invalid(reason, type(value).__name__))
        text = _json.dumps({{"i": index, "k": kind, "v": invalid}})
    _publish({{{MIME!r}: text}})
'''

# Sent to the trusted reference kernel (instructor source, no student code).
REFERENCE_PRELUDE = f'''
def {RECORD_CALL}(index, kind, *args, **kwargs):
    import inspect as _inspect
    import json as _json
    from IPython.display import publish_display_data as _publish
    import course_lib.checks as _checks
    helper = {{v: getattr(_checks, k) for k, v in _checks.KINDS.items()}}[kind]
    bound = _inspect.signature(helper).bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    value = arguments.pop("condition" if kind == "true" else "value")
    plain_args = {{}}
    for key, item in arguments.items():
        if key in ("expected", "expected_shape"):
            item = _checks._expected_plain(kind, item)
        elif key in ("rtol", "atol", "low", "high"):
            item = float(item)
        elif item is not None:
            item = str(item)
        plain_args[key] = _checks.encode_plain(item)
    plain = _checks.to_plain(value, kind)
    _publish({{{MIME!r}: _json.dumps({{"i": index, "k": kind, "v": _checks.encode_plain(plain),
                                      "a": plain_args}})}})
'''


@dataclass
class Region:
    """One part of a check cell: its visible code, or one hidden region."""
    kind: str            # 'visible' or 'hidden'
    student: str         # code for the student's kernel
    reference: str       # code for the reference kernel


@dataclass
class Record:
    """One check call as a kernel reported it (plain data only)."""
    index: int
    kind: str
    value: object
    args: dict | None = None


# ---------------------------------------------------------------------------- names

def _stored(nodes):
    return {n.id for node in nodes for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} | {
        n.name for node in nodes for n in ast.walk(node)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def free_loads(node, local=frozenset()):
    """Names a node reads from outside: a function's parameters and locals are not."""
    if isinstance(node, ast.Name):
        return {node.id} if not isinstance(node.ctx, ast.Store) and node.id not in local else set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        outer = list(node.args.defaults) + [d for d in node.args.kw_defaults if d is not None]
        outer += list(getattr(node, "decorator_list", []))
        found = set().union(*(free_loads(n, local) for n in outer)) if outer else set()
        arguments = node.args
        names = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
        names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        inner = local | names | _stored(body)
        for child in body:
            found |= free_loads(child, inner)
        return found
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        inner = local | _stored([g.target for g in node.generators])
        found = free_loads(node.generators[0].iter, local)
        for child in ast.iter_child_nodes(node):
            if child is not node.generators[0]:
                found |= free_loads(child, inner)
        for generator in node.generators:
            for condition in generator.ifs:
                found |= free_loads(condition, inner)
            if generator is not node.generators[0]:
                found |= free_loads(generator.iter, inner)
        return found
    found = set()
    for child in ast.iter_child_nodes(node):
        found |= free_loads(child, local)
    return found


def cell_inputs(statements, bound=frozenset()):
    """Names the statements read before binding them themselves (in order)."""
    need = set()
    for statement in statements:
        if isinstance(statement, (ast.For, ast.AsyncFor)):
            need |= free_loads(statement.iter) - bound
            inner = bound | fmt.bound_names([ast.Assign(targets=[statement.target], value=None)])
            need |= cell_inputs(statement.body, inner) | cell_inputs(statement.orelse, inner)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            inner = bound
            for item in statement.items:
                need |= free_loads(item.context_expr) - inner
                if item.optional_vars is not None:
                    inner = inner | fmt.bound_names([ast.Assign(targets=[item.optional_vars],
                                                                value=None)])
            need |= cell_inputs(statement.body, inner)
        elif isinstance(statement, (ast.If, ast.While)):
            need |= free_loads(statement.test) - bound
            need |= cell_inputs(statement.body, bound) | cell_inputs(statement.orelse, bound)
        elif isinstance(statement, ast.Try):
            need |= cell_inputs(statement.body, bound)
            for handler in statement.handlers:
                if handler.type is not None:
                    need |= free_loads(handler.type) - bound
                need |= cell_inputs(handler.body, bound | ({handler.name} if handler.name else set()))
            need |= cell_inputs(statement.orelse, bound) | cell_inputs(statement.finalbody, bound)
        else:
            need |= free_loads(statement) - bound
        bound = bound | fmt.bound_names([statement])
    return need


def parse_cell(source):
    """Parses a cell with its IPython lines (`%magic`, `!shell`) blanked; None if it does not parse."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


# ---------------------------------------------------------------------------- check calls

def check_call(statement):
    """Returns (kind, value node, grader-side nodes) if `statement` is a check call, else None."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Name)
            and statement.value.func.id in HELPERS):
        return None
    call = statement.value
    kind = HELPERS[call.func.id]
    keyword = _VALUE_KEYWORD.get(kind, "value")
    if call.args and not isinstance(call.args[0], ast.Starred):
        value, grader = call.args[0], list(call.args[1:]) + [k.value for k in call.keywords]
    else:
        named = [k for k in call.keywords if k.arg == keyword]
        if not named:
            return None
        value = named[0].value
        grader = list(call.args) + [k.value for k in call.keywords if k is not named[0]]
    return kind, value, grader


_COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)


def _bodies(statement):
    if isinstance(statement, ast.Try):
        return [statement.body, statement.orelse, statement.finalbody] + [
            h.body for h in statement.handlers]
    return [getattr(statement, name) for name in ("body", "orelse") if hasattr(statement, name)]


def _header_loads(statement):
    if isinstance(statement, (ast.For, ast.AsyncFor)):
        return free_loads(statement.iter)
    if isinstance(statement, (ast.While, ast.If)):
        return free_loads(statement.test)
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        return set().union(*(free_loads(i.context_expr) for i in statement.items))
    if isinstance(statement, ast.Try):
        return set().union(set(), *(free_loads(h.type) for h in statement.handlers if h.type))
    return set()


def _header_stores(statement):
    if isinstance(statement, (ast.For, ast.AsyncFor)):
        return fmt.bound_names([ast.Assign(targets=[statement.target], value=None)])
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        return fmt.bound_names([ast.Assign(targets=[i.optional_vars], value=None)
                                for i in statement.items if i.optional_vars is not None])
    return set()


def _receivers(trees):
    """(assigned, imported): names bound in the cell only by `=`-style assignments, and by imports.

    A method call on an `assigned` name (`expected.fill(0)`) may be pruned with it; a loop
    variable or a `with` target may alias an object the value side uses (`conv.set_weights`).
    """
    bound, other, imported = set(), set(), set()
    for _, tree in trees:
        bound |= fmt.bound_names(tree.body)
        for node in ast.walk(tree):
            if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                other |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                other |= {n.id for item in node.items if item.optional_vars is not None
                          for n in ast.walk(item.optional_vars) if isinstance(n, ast.Name)}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                other.add(node.name)
            elif isinstance(node, ast.NamedExpr):
                other.add(node.target.id)
    return bound - other - imported, imported


# Methods that read an array, tensor, model or dict without changing it.
_PURE_METHODS = {"copy", "sum", "mean", "std", "var", "min", "max", "argmax", "argmin", "reshape",
                 "astype", "transpose", "ravel", "flatten", "item", "tolist", "numpy", "dot",
                 "round", "clip", "squeeze", "any", "all", "cumsum", "prod", "nonzero", "keys",
                 "values", "items", "get", "get_weights", "count_params", "get_config",
                 "get_layer", "predict", "index", "count", "format", "join", "split", "lower",
                 "upper", "strip", "startswith", "endswith", "tobytes", "view", "swapaxes"}


def _calls_on(statement, names):
    """Objects whose (possibly changing) methods the statement calls: those in `names`, and
    'random' for a global generator (`np.random.normal()`).

    `want = reference(rng.normal(size=3))` advances `rng`; `want = x.sum()` does not change `x`.
    """
    found = set()
    for node in ast.walk(statement):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)) or \
                node.func.attr in _PURE_METHODS:
            continue
        path = ast.unparse(node.func.value).split(".")
        if "random" in path:
            found.add("random")
        elif _root(node.func) in names:
            found.add(_root(node.func))
    return found


def notebook_modules(nb):
    """Names bound by imports anywhere in a notebook (their methods change no check input)."""
    modules = set()
    for cell in nb.cells:
        tree = parse_cell(fmt.source_text(cell)) if cell.cell_type == "code" else None
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return modules


def _candidate_roots(statement, assigned):
    """Names a removable statement writes, or None when the statement must stay."""
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        if any(alias.name == "*" for alias in statement.names):
            return None
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        if isinstance(statement, ast.AnnAssign) and statement.value is None:
            return None
        targets = [statement.target]
    elif (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
          and isinstance(statement.value.func, ast.Attribute)):
        root = _root(statement.value.func)       # expected.append(...): changes `expected`
        return {root} if root in assigned else None
    else:
        return None
    roots = set()
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                roots.add(node.id)
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            roots.add(_root(target))
    roots.discard(None)
    return roots or None


@dataclass
class _Unit:
    statement: ast.stmt
    loads: set
    roots: set | None = None        # None: an anchor (always stays)
    kept: bool = True
    sticky: set = None              # objects the value side uses whose methods it calls


def _units(statements, assigned, units, grader_loads):
    for statement in statements:
        found = check_call(statement)
        if found is not None:
            kind, value, grader = found
            units.append(_Unit(statement, free_loads(value)))
            for node in grader:
                grader_loads |= free_loads(node)
            continue
        if isinstance(statement, _COMPOUND):
            units.append(_Unit(statement, _header_loads(statement)))
            for body in _bodies(statement):
                _units(body, assigned, units, grader_loads)
            continue
        roots = _candidate_roots(statement, assigned)
        units.append(_Unit(statement, free_loads(statement), roots))


class _Rewriter(ast.NodeTransformer):
    """Numbers the check calls and rewrites them for one side."""

    def __init__(self, side, removed, start):
        self.side, self.removed, self.next_index = side, removed, start

    def _statements(self, statements):
        kept = []
        for statement in statements:
            if id(statement) in self.removed:
                continue
            found = check_call(statement)
            if found is not None:
                kind, value, _ = found
                index = ast.Constant(self.next_index)
                self.next_index += 1
                if self.side == "student":
                    call = ast.Call(ast.Name(VALUE_CALL, ast.Load()),
                                    [index, ast.Constant(kind), value], [])
                else:
                    original = statement.value
                    call = ast.Call(ast.Name(RECORD_CALL, ast.Load()),
                                    [index, ast.Constant(kind)] + original.args, original.keywords)
                kept.append(ast.Expr(call))
                continue
            if isinstance(statement, _COMPOUND):
                for name in ("body", "orelse", "finalbody"):
                    if hasattr(statement, name):
                        body = self._statements(getattr(statement, name))
                        if name == "body" and not body:
                            body = [ast.Pass()]
                        setattr(statement, name, body)
                if isinstance(statement, ast.Try):
                    for handler in statement.handlers:
                        handler.body = self._statements(handler.body) or [ast.Pass()]
            kept.append(statement)
        return kept

    def rewrite(self, tree):
        tree.body = self._statements(tree.body)
        return ast.fix_missing_locations(tree)


def split_check_cell(source, later_loads=frozenset(), modules=frozenset()):
    """Returns the `Region`s of a check cell, each with its student and reference code.

    Args:
        source: the check cell, hidden regions included.
        later_loads: names that later cells read (statements binding them stay).
        modules: names of imported modules in the notebook (`notebook_modules`).

    Raises:
        SyntaxError: a part of the cell does not parse (the lint reports it first).
    """
    segments = fmt.check_segments(source)
    trees = [(kind, ast.parse(code)) for kind, code in segments]
    units = _prune(trees, later_loads, modules)
    removed = {id(u.statement) for u in units if not u.kept}
    regions, student_index, reference_index = [], 0, 0
    for (kind, tree), (_, code) in zip(trees, segments):
        reference_rewriter = _Rewriter("reference", set(), reference_index)
        reference = ast.unparse(reference_rewriter.rewrite(ast.parse(code)))
        student_rewriter = _Rewriter("student", removed, student_index)   # ids refer to `trees`
        student = ast.unparse(student_rewriter.rewrite(tree)) or "pass"
        student_index, reference_index = student_rewriter.next_index, reference_rewriter.next_index
        regions.append(Region(kind, student, reference))
    return regions


def _prune(trees, later_loads=frozenset(), modules=frozenset()):
    """The statements of a check cell as `_Unit`s, `kept` False for those the student side drops.

    Repeated until nothing changes: an assignment (or import, or method call on an assigned
    name) stays only if something kept reads what it writes, or if it calls a method of an
    object of the cell that the kept code uses (`want = rng.normal()` advances `rng`: it
    stays, marked `sticky`, and the lint asks for the inputs to be drawn separately).
    """
    assigned, imported = _receivers(trees)
    units, grader_loads = [], set()
    for _, tree in trees:
        _units(tree.body, assigned, units, grader_loads)
    changed = True
    while changed:
        changed = False
        for unit in units:
            if unit.roots is None or not unit.kept:
                continue
            needed = set(later_loads)
            for other in units:
                if other is not unit and other.kept:    # writing x again does not need x
                    needed |= other.loads - (other.roots or set())
            if unit.roots & needed:
                continue
            sticky = _calls_on(unit.statement, needed - unit.roots - modules - imported)
            if sticky:
                unit.sticky = sticky
                continue
            unit.kept, changed = False, True
    return units


def plan_notebook(nb):
    """Returns {check cell index: [Region, ...]} for every check cell of a notebook.

    Names that later cells read (their student side, for check cells) stay computed
    in the student's kernel.

    Raises:
        SyntaxError: a check cell does not parse (the lint reports it first).
    """
    plan, later = {}, set()
    modules = frozenset(notebook_modules(nb))
    for index in range(len(nb.cells) - 1, -1, -1):
        cell = nb.cells[index]
        if cell.cell_type != "code":
            continue
        if fmt.cell_kind(cell) == "check":
            regions = split_check_cell(fmt.source_text(cell), frozenset(later), modules)
            plan[index] = regions
            for region in regions:
                later |= cell_inputs(ast.parse(region.student).body)
        else:
            tree = parse_cell(fmt.source_text(cell))
            if tree is not None:
                later |= cell_inputs(tree.body)
    return plan


# ---------------------------------------------------------------------------- records

def read_records(outputs, with_args=False):
    """Returns (records, problem) from a kernel's outputs; problem is None or a short reason.

    Strict: every record must be JSON with an int index, a known kind and plain data.
    """
    records = []
    for output in outputs:
        if not isinstance(output, dict) or output.get("output_type") not in (
                "display_data", "execute_result", "update_display_data"):
            continue
        data = output.get("data")
        if not isinstance(data, dict) or MIME not in data:
            continue
        if len(records) >= MAX_RECORDS:
            return records, "too many check records"
        text = data[MIME]
        if isinstance(text, list):
            text = "".join(text) if all(isinstance(t, str) for t in text) else None
        if not isinstance(text, str) or len(text) > MAX_RECORD_CHARS + 1000:
            return records, "malformed check record"
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or set(raw) - {"i", "k", "v", "a"}:
                raise checks.MalformedRecord("bad record")
            index, kind = raw.get("i"), raw.get("k")
            if type(index) is not int or kind not in checks.COMPARE or "v" not in raw:
                raise checks.MalformedRecord("bad record")
            value = checks.decode_plain(raw["v"])
            args = None
            if with_args:
                if not isinstance(raw.get("a"), dict):
                    raise checks.MalformedRecord("no arguments")
                args = {str(k): checks.decode_plain(v) for k, v in raw["a"].items()}
        except (ValueError, RecursionError, TypeError):
            return records, "malformed check record"
        records.append(Record(index, kind, value, args))
    return records, None


def judge_region(student_records, reference_records):
    """Returns None if the student's records pass against the reference's, else a reason.

    The reason is ('count', n_student, n_reference) or ('compare', message).
    """
    if len(student_records) != len(reference_records):
        return ("count", len(student_records), len(reference_records))
    for mine, reference in zip(student_records, reference_records):
        if (mine.index, mine.kind) != (reference.index, reference.kind):
            return ("count", len(student_records), len(reference_records))
        try:
            message = checks.compare(reference.kind, mine.value, **reference.args)
        except Exception as error:  # noqa: BLE001 - odd plain data (e.g. a dict where numbers go)
            message = f"{reference.args.get('name', 'value')}: could not be compared ({type(error).__name__})"
        if message is not None:
            return ("compare", message)
    return None


# ---------------------------------------------------------------------------- lint

def lint_check_cell(source, modules=frozenset()):
    """Returns messages for the rules of docs/check-cells.md that a check cell breaks."""
    problems = []
    try:
        segments = fmt.check_segments(source)
        trees = [(kind, ast.parse(code)) for kind, code in segments]
    except (SyntaxError, fmt.MarkerError):
        return problems             # reported by the parse checks of the lint
    allowed = set()

    def walk(statements, kind):
        for statement in statements:
            found = check_call(statement)
            if found is not None:
                allowed.add(id(statement.value.func))
                name = statement.value.func.id
                if name == "check_true" and kind == "hidden":
                    problems.append(
                        "check_true in a hidden region: a hostile kernel can always produce "
                        "True. Check the raw value instead, e.g. check_equal(value, expected, "
                        "name=...) or check_close(value, expected, name=...).")
                for node in found[2]:
                    if any(isinstance(n, ast.NamedExpr) for n in ast.walk(node)):
                        problems.append(
                            f"{name}(...) has a ':=' in a grader-side argument: those arguments "
                            f"never run in the student's kernel. Assign the name in its own "
                            f"statement before the check.")
                if any(isinstance(n, ast.NamedExpr) for n in ast.walk(found[1])):
                    problems.append(f"{name}(...) has a ':=' in its value: assign the value in "
                                    f"its own statement before the check.")
            elif isinstance(statement, _COMPOUND):
                for body in _bodies(statement):
                    walk(body, kind)

    for kind, tree in trees:
        walk(tree.body, kind)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in HELPERS and id(node) not in allowed:
                problems.append(
                    f"{node.id} used on line {node.lineno} other than as a statement "
                    f"`{node.id}(value, ...)` at the cell's top level or inside for/if/with/while: "
                    f"not inside def, lambda, class or a comprehension, not inside a larger "
                    f"expression. Write the loop as a `for` statement around the check call.")
            elif isinstance(node, ast.Attribute) and node.attr in HELPERS:
                problems.append(
                    f"{ast.unparse(node)} on line {node.lineno}: call the check helpers by their "
                    f"bare names (`from course_lib.checks import {node.attr}`), or the grader "
                    f"cannot find the call.")
    calls = 0
    for kind, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert):
                problems.append(
                    f"line {node.lineno}: `assert` in a check cell runs in the student's kernel, "
                    f"which can make anything pass; use a check helper on the raw value, e.g. "
                    f"`check_equal(value, expected, name=...)`.")
        calls += sum(1 for node in ast.walk(tree) if id(getattr(node, "func", None)) in allowed)
    if not calls:
        problems.append("this check cell calls no check helper, so it grades nothing: check the "
                        "student's values with check_close / check_equal / check_shape / "
                        "check_in_range (from course_lib.checks).")
    problems.extend(_lint_leaks(trees, modules))
    return sorted(set(problems), key=problems.index)


def _lint_leaks(trees, modules=frozenset()):
    """Statements that stay in the student's kernel but carry grader-side data."""
    assigned, _ = _receivers(trees)
    value_loads, grader_loads = set(), set()
    loops = []

    def walk(statements, hidden):
        for statement in statements:
            found = check_call(statement)
            if found is not None:
                value_loads.update(free_loads(found[1]))
                for node in found[2]:
                    grader_loads.update(free_loads(node))
            elif isinstance(statement, _COMPOUND):
                value_loads.update(_header_loads(statement))
                if hidden and isinstance(statement, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
                    loops.append(statement)     # visible expected values are in the student's copy
                for body in _bodies(statement):
                    walk(body, hidden)
            elif _candidate_roots(statement, assigned) is None:
                value_loads.update(free_loads(statement))
            else:
                value_loads.update(n for n in free_loads(statement)
                                   if n not in _candidate_roots(statement, assigned))

    for kind, tree in trees:
        walk(tree.body, kind == "hidden")
    problems = []
    for unit in _prune(trees, modules=modules):
        if unit.sticky and unit.kept:
            problems.append(
                f"`{ast.unparse(unit.statement)[:60]}` only feeds grader-side arguments but calls "
                f"a method of {sorted(unit.sticky)}, which the value side also uses (a random "
                f"generator, a model), so it must stay in the student's kernel with its expected "
                f"value. "
                f"Draw the inputs first, or give the expected values their own generator.")
    for loop in loops:
        index_names = set()
        if isinstance(loop, (ast.For, ast.AsyncFor)) and isinstance(loop.iter, ast.Call) and \
                isinstance(loop.iter.func, ast.Name) and loop.iter.func.id in ("range", "enumerate"):
            target = loop.target
            if loop.iter.func.id == "range":
                index_names = _header_stores(loop)
            elif isinstance(target, ast.Tuple) and isinstance(target.elts[0], ast.Name):
                index_names = {target.elts[0].id}
        grader_only = (_header_stores(loop) - index_names) & grader_loads
        grader_only -= value_loads
        if grader_only:
            problems.append(
                f"line {loop.lineno} of a hidden region: the loop variable(s) "
                f"{sorted(grader_only)} feed only "
                f"grader-side arguments, so the loop would carry expected values into the "
                f"student's kernel. Loop over the inputs only and compute the expected value in "
                f"the check call (e.g. `for x in inputs: check_close(f(x), reference(x))`, or "
                f"`for i in range(3): check_close(got[i], reference(x)[i])`).")
    return problems


def lint_check_imports(source):
    """Messages for check helpers imported from anywhere but course_lib.checks."""
    tree = parse_cell(source)
    if tree is None:
        return []
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "course_lib.checks":
            for alias in node.names:
                if alias.name in HELPERS:
                    problems.append(f"import {alias.name} from course_lib.checks (found: from "
                                    f"{node.module} import {alias.name}).")
        if isinstance(node, (ast.ImportFrom, ast.Import)):
            for alias in node.names:
                if alias.name in HELPERS and alias.asname not in (None, alias.name):
                    problems.append(f"import {alias.name} under its own name, not as "
                                    f"{alias.asname!r}: the grader finds checks by name.")
    return problems
