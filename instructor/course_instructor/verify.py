"""CI check of one lab: each exercise is a real exercise, and questions are independent.

    problems = verify_lab("labs/00_prepare_data.ipynb")     # [] when all is well
    course-lib verify labs/                                  # the same from the shell

One kernel per lab, one pass over its cells in order (the solutions' full run
is nbval's job and is not repeated here):

- an instructor cell must run without error while every earlier answer is the
  student's stub (so a student who skips a question can still run the rest);
  cells that use nothing derived from an answer, and that no such cell needs,
  are skipped (`cells_to_run`): they run exactly as under nbval;
- for each check cell, in place: with the reference solution, the full check
  (hidden parts included) must pass; with the stub (the names the solution
  defined removed first), the released check must fail and so must the full
  one. The solution is then re-run for the question's next check cell, and the
  stub left in place after its last one.

So a released lab fails every graded check, and replacing one solution with its
stub loses exactly that question's points.
"""

import ast
from pathlib import Path

from course_instructor import format as fmt
from course_instructor.kernel import KernelSession


def verify_lab(source, cell_timeout=600, kernel_name="python3", cwd=None):
    """Returns the problems found in one instructor notebook (an empty list if none).

    Args:
        source: path of the instructor notebook.
        cell_timeout: seconds any one cell may run.
        kernel_name: the Jupyter kernel to use.
        cwd: working directory of the kernel (default: the notebook's folder, as nbval).

    Raises:
        ValueError: the notebook fails the lint.
    """
    source = Path(source)
    nb = fmt.read_notebook(source)
    problems = fmt.lint_notebook(nb, name=str(source))
    if problems:
        raise ValueError(f"{source} has format problems; fix them first:\n"
                         + "\n".join(f"  {p}" for p in problems))
    questions = fmt.list_questions(nb)
    owner = {}
    for q in questions:
        for position, index in enumerate(q.check_indices):
            owner[index] = (q, position == len(q.check_indices) - 1)
    found = []

    def report(index, gid, message):
        found.append(f"{source}: cell {index}" + (f" ({gid!r})" if gid else "") + f": {message}")

    with KernelSession(kernel_name=kernel_name, cwd=cwd or source.parent) as kernel:
        def run(code, index, gid, what):
            result = kernel.run(code, cell_timeout)
            if result.fatal:
                report(index, gid, f"{what}: {result.status} ({result.evalue})")
                raise _Stop
            return result

        needed = cells_to_run(nb)
        try:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or index not in needed:
                    continue
                kind = fmt.cell_kind(cell)
                text = fmt.source_text(cell)
                gid = fmt.grade_id(cell)
                if kind == "answer":
                    run(text, index, gid, "the solution")
                elif kind == "check" and index in owner:
                    question, last = owner[index]
                    answer = fmt.source_text(nb.cells[question.answer_index])
                    full = run(text, index, gid, "the check with the solution")
                    if not full.ok:
                        report(index, gid, f"fails with the reference solution: "
                                           f"{full.ename}: {full.evalue}")
                    stub = fmt.stub_solution(answer)
                    names = sorted(fmt.defined_names(answer) - fmt.defined_names(stub))
                    if names:
                        run(f"for _course_lib_name in {names!r}:\n"
                            f"    globals().pop(_course_lib_name, None)", index, gid, "cleanup")
                    run(stub, index, gid, "the stub")
                    released = run(fmt.remove_hidden_tests(text), index, gid,
                                   "the released check with the stub")
                    if released.ok:
                        report(index, gid, f"the released check passes with the stub of "
                                           f"{question.answer_id!r}; it must fail until the "
                                           f"student answers (call the student's code in the "
                                           f"visible part).")
                    # The full check runs the same visible code: it can only pass if the released one did.
                    hidden = run(text, index, gid, "the check with the stub") if released.ok else released
                    if hidden.ok:
                        report(index, gid, f"passes with the stub of {question.answer_id!r}; "
                                           f"it does not test the answer.")
                    if not last:
                        run(answer, index, gid, "the solution (restored)")
                else:
                    result = run(text, index, gid, "the cell")
                    if not result.ok and "raises-exception" not in cell.metadata.get("tags", []):
                        report(index, gid, f"fails when the answers above are stubs "
                                           f"({result.ename}: {result.evalue}); instructor "
                                           f"cells must not use a student's answer (use the "
                                           f"library's reference implementation).")
        except _Stop:
            pass
    return found


class _Stop(Exception):
    pass


def _names(source):
    """Returns (loaded, bound, mutated) names of a cell; None if it does not parse.

    mutated: roots of `x.attr = ...`, `x[i] = ...` and `x.method(...)`, the ways a
    cell changes an object defined elsewhere. Magic lines are ignored.
    """
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    loaded = _inputs(tree.body, frozenset())
    mutated = set()
    for node in _top_level_nodes(tree):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            mutated.add(_root(node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            mutated.add(_root(node.func))
    mutated.discard(None)
    return loaded, fmt.defined_names(source), mutated


def _stored(nodes):
    return {n.id for node in nodes for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} | {
        n.name for node in nodes for n in ast.walk(node)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _free_loads(node, local):
    """Names a node reads from outside: a function's parameters and locals are not."""
    if isinstance(node, ast.Name):
        return {node.id} if not isinstance(node.ctx, ast.Store) and node.id not in local else set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        outer = list(node.args.defaults) + [d for d in node.args.kw_defaults if d is not None]
        outer += list(getattr(node, "decorator_list", []))
        found = set().union(*(_free_loads(n, local) for n in outer)) if outer else set()
        arguments = node.args
        names = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
        names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        inner = local | names | _stored(body)
        for child in body:
            found |= _free_loads(child, inner)
        return found
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        inner = local | _stored([g.target for g in node.generators])
        found = _free_loads(node.generators[0].iter, local)
        for child in ast.iter_child_nodes(node):
            if child is not node.generators[0]:
                found |= _free_loads(child, inner)
        for generator in node.generators:
            for condition in generator.ifs:
                found |= _free_loads(condition, inner)
            if generator is not node.generators[0]:
                found |= _free_loads(generator.iter, inner)
        return found
    found = set()
    for child in ast.iter_child_nodes(node):
        found |= _free_loads(child, local)
    return found


def _inputs(statements, bound):
    """Names the statements read before binding them themselves (in order)."""
    need = set()
    for statement in statements:
        if isinstance(statement, (ast.For, ast.AsyncFor)):
            need |= _free_loads(statement.iter, frozenset()) - bound
            inner = bound | fmt.bound_names([ast.Assign(targets=[statement.target], value=None)])
            need |= _inputs(statement.body, inner) | _inputs(statement.orelse, inner)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            inner = bound
            for item in statement.items:
                need |= _free_loads(item.context_expr, frozenset()) - inner
                if item.optional_vars is not None:
                    inner = inner | fmt.bound_names([ast.Assign(targets=[item.optional_vars],
                                                                value=None)])
            need |= _inputs(statement.body, inner)
        elif isinstance(statement, (ast.If, ast.While)):
            need |= _free_loads(statement.test, frozenset()) - bound
            need |= _inputs(statement.body, bound) | _inputs(statement.orelse, bound)
        elif isinstance(statement, ast.Try):
            need |= _inputs(statement.body, bound)
            for handler in statement.handlers:
                if handler.type is not None:
                    need |= _free_loads(handler.type, frozenset()) - bound
                need |= _inputs(handler.body, bound | ({handler.name} if handler.name else set()))
            need |= _inputs(statement.orelse, bound) | _inputs(statement.finalbody, bound)
        else:
            need |= _free_loads(statement, frozenset()) - bound
        bound = bound | fmt.bound_names([statement])
    return need


def _top_level_nodes(tree):
    """Walks the tree without entering function, lambda or class bodies (their own scopes)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def cells_to_run(nb):
    """Returns the indices of the code cells `verify_lab` must run.

    An instructor cell that uses nothing derived from an answer (directly or
    through other cells) behaves the same with stubs as with solutions, which
    nbval already runs; it is skipped unless a cell that must run needs a name
    it binds or changes. Graded cells, and cells that do not parse, always run.
    Names bound by imports (modules) are neither tainted nor counted as changed
    by method calls; changes inside function bodies stay in their scope.
    """
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    info = {i: _names(fmt.source_text(c)) for i, c in code}
    modules = set()
    for i, c in code:
        try:
            tree = ast.parse("\n".join("" if l.lstrip().startswith(("%", "!")) else l
                                       for l in fmt.source_text(c).split("\n")))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules.update((a.asname or a.name).split(".")[0] for a in node.names)
    tainted, depends = set(), set()
    for i, cell in code:
        kind = fmt.cell_kind(cell)
        names = info[i]
        if names is None:
            depends.add(i)
            continue
        loaded, bound, mutated = names
        if kind in ("answer", "check") or loaded & tainted:
            depends.add(i)
            tainted |= (bound | mutated) - modules
    run, needed, everything = set(), set(), False
    for i, cell in reversed(code):
        names = info[i]
        if names is None:
            run.add(i)
            everything = True
            continue
        loaded, bound, mutated = names
        if everything or i in depends or (bound | (mutated - modules)) & needed:
            run.add(i)
            needed |= loaded
    return run
