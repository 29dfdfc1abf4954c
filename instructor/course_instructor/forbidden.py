"""From-scratch questions: a copy of course_lib where the references a question forbids raise.

An answer cell may name the library references its answer must not use:

    "metadata": {"nbgrader": {...}, "course_lib": {"forbidden": ["course_lib.scratch.dense_backward"]}}

`poisoned_copy(names, folder)` copies the `course_lib` package and rewrites, at the
file level, the function (or every method of the class) that defines each name so
that it raises `ForbiddenReferenceError`. Re-exports, aliases (`from course_lib.scratch
import dense_backward as f`), `getattr` with built strings and `importlib` all reach
the same poisoned definition. The grader mounts the copy read-only in place of the
real package (`make_kernel_factory(course_lib_dir=...)`) and re-runs the question.
"""

import ast
import importlib.util
import shutil
from pathlib import Path

from course_instructor import format as fmt

FORBIDDEN_KEY = "forbidden"
_ERROR_MODULE = '''"""Raised by a library reference that a from-scratch question does not allow."""


class ForbiddenReferenceError(RuntimeError):
    """This reference is not allowed in this question: write it from scratch."""
'''


def package_dir():
    """The folder of the installed `course_lib` package (found without importing it)."""
    spec = importlib.util.find_spec("course_lib")
    return Path(list(spec.submodule_search_locations)[0])


def forbidden_names(cell):
    """Returns the `course_lib.forbidden` list of an answer cell (or [] when it has none)."""
    meta = cell.get("metadata", {}).get(fmt.OUR_KEY)
    if not isinstance(meta, dict):
        return []
    names = meta.get(FORBIDDEN_KEY, [])
    return list(names) if isinstance(names, list) else names


def _module_file(root, module):
    parts = module.split(".")
    if parts[0] != "course_lib":
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _resolve_relative(module, level, current):
    if level == 0:
        return module
    package = current.split(".")
    package = package[:len(package) - level + (1 if current.endswith(".__init__") else 0)]
    return ".".join(package + ([module] if module else []))


def _module_name(root, path):
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]) + ".__init__"
    return ".".join(parts)


def find_definition(name, root=None, _seen=None):
    """Returns (file, top-level name) where the dotted `name` is defined, or None.

    Follows `from .x import y [as z]` re-exports and course_lib's lazy `_EXPORTS` table.
    """
    root = package_dir() if root is None else Path(root)
    _seen = set() if _seen is None else _seen
    if name in _seen or "." not in name:
        return None
    _seen.add(name)
    module, attr = name.rsplit(".", 1)
    path = _module_file(root, module)
    if path is None:
        return None
    try:
        tree = ast.parse(path.read_text())
    except (SyntaxError, UnicodeDecodeError):
        return None
    current = _module_name(root, path)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == attr:
            return path, attr
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == attr:
                    source = _resolve_relative(node.module, node.level, current)
                    found = find_definition(f"{source}.{alias.name}", root, _seen)
                    if found:
                        return found
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets):
            try:
                exports = ast.literal_eval(node.value)
            except ValueError:
                continue
            if isinstance(exports, dict) and isinstance(exports.get(attr), str):
                found = find_definition(f"{exports[attr]}.{attr}", root, _seen)
                if found:
                    return found
    return None


def check_forbidden(names):
    """Returns messages for a `forbidden` list that is not a list of existing course_lib references."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return [f"metadata course_lib.forbidden should be a list of dotted names, e.g. "
                f"[\"course_lib.scratch.dense_backward\"]. Received: {names!r}"]
    return [f"metadata course_lib.forbidden names {name!r}, which is not a function or class "
            f"defined in course_lib (write its full dotted name, e.g. "
            f"\"course_lib.scratch.dense_backward\")."
            for name in names if find_definition(name) is None]


class _Poison(ast.NodeTransformer):
    def __init__(self, targets):
        self.targets = targets          # top-level name -> dotted name

    @staticmethod
    def _raise(dotted):
        message = (f"{dotted} is not allowed in this question: write it from scratch "
                   f"(the grader re-runs this question without it).")
        return ast.parse(f"raise __import__('course_lib._forbidden', fromlist=['_'])"
                         f".ForbiddenReferenceError({message!r})").body

    def poison(self, tree):
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in self.targets:
                node.body = self._raise(self.targets[node.name])
            elif isinstance(node, ast.ClassDef) and node.name in self.targets:
                methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                for method in methods:
                    method.body = self._raise(self.targets[node.name])
                if not any(m.name == "__init__" for m in methods):
                    init = ast.parse("def __init__(self, *args, **kwargs):\n    pass").body[0]
                    init.body = self._raise(self.targets[node.name])
                    node.body.append(init)
        return ast.fix_missing_locations(tree)


def poisoned_copy(names, folder):
    """Copies course_lib into `folder`/course_lib with the `names` made to raise; returns that path.

    Raises:
        ValueError: a name is not a function or class defined in course_lib.
    """
    problems = check_forbidden(names)
    if problems:
        raise ValueError("; ".join(problems))
    source = package_dir()
    target = Path(folder) / "course_lib"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    by_file = {}
    for name in names:
        path, attr = find_definition(name, source)
        by_file.setdefault(path.relative_to(source), {})[attr] = name
    for relative, targets in by_file.items():
        path = target / relative
        tree = _Poison(targets).poison(ast.parse(path.read_text()))
        path.write_text(ast.unparse(tree) + "\n")
    (target / "_forbidden.py").write_text(_ERROR_MODULE)
    return target
