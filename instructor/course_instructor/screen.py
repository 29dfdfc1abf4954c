"""Static screening of a student's answer cell before the grader runs it.

The grader runs answers in a kernel that also runs the checks, so an answer cell
could try to make the checks lie: patch `np.allclose` or the check helpers,
install IPython hooks that rewrite or swallow the check cells, read the
instructor's notebook from disk, or kill the kernel. `screen_answer` rejects the
constructs those tricks need and that a lab's answer never does. A rejected
answer is not run; its question scores 0 and the feedback names the construct.

This is one layer of three (see `course_instructor.grade`): checks keep private
references (`checks.py`), the kernel is verified after every answer cell
(`_guard.py`), and pass/fail comes from a per-run secret token, never from what
a cell prints. It is not a sandbox: grade untrusted code in a container.
"""

import ast

# Modules an answer never needs and that reach the interpreter, the kernel or the disk.
BLOCKED_MODULES = {
    "sys", "builtins", "IPython", "ipykernel", "jupyter_client", "nbclient", "nbformat",
    "ctypes", "cffi", "gc", "inspect", "importlib", "imp", "subprocess", "signal", "multiprocessing",
    "threading", "_thread", "concurrent", "asyncio", "pickle", "marshal", "dill", "code", "codeop",
    "io", "shutil", "socket", "pty", "atexit", "faulthandler", "resource", "traceback",
    "linecache", "tokenize", "runpy", "zipimport", "pkgutil", "site", "types", "weakref",
    "unittest", "pytest", "json", "glob", "fnmatch", "tempfile", "posix", "nt",
}
BLOCKED_SUBMODULES = ("course_lib.checks", "numpy.testing")

# Names that reach the interpreter's internals or run strings as code.
BLOCKED_NAMES = {
    "get_ipython", "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
    "setattr", "delattr", "open", "breakpoint", "input", "exit", "quit", "memoryview",
    "__builtins__", "__builtin__", "__loader__", "__spec__", "__file__", "__cached__",
    "In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii",
}

# Attributes that reach frames, modules or process control.
BLOCKED_ATTRIBUTES = {
    "_exit", "system", "popen", "kill", "killpg", "abort", "fork", "forkpty", "execv", "execve",
    "execl", "execle", "execlp", "execvp", "execvpe", "spawnl", "spawnv", "spawnve", "posix_spawn",
    "sys", "modules", "settrace", "setprofile", "excepthook", "displayhook", "_getframe",
    "f_globals", "f_locals", "f_back", "f_builtins", "f_code", "gi_frame", "tb_frame",
    "cr_frame", "ag_frame", "putenv", "unsetenv", "chdir", "read_text", "read_bytes",
    "write_text", "write_bytes", "unlink", "rmdir", "rmtree", "loadtxt", "genfromtxt",
    "fromfile", "loads", "input_transformers_post", "input_transformers_cleanup",
    "ast_transformers", "events", "set_custom_exc", "run_cell", "showtraceback",
}

# Dunder attributes an answer may use (super().__init__(...), type(x).__name__, ...).
ALLOWED_DUNDERS = {
    "__init__", "__call__", "__name__", "__doc__", "__len__", "__getitem__", "__setitem__",
    "__iter__", "__next__", "__enter__", "__exit__", "__repr__", "__str__", "__qualname__",
}

# Special methods that let an object fake a comparison, a conversion or a type check.
BLOCKED_METHODS = {
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__array__",
    "__array_ufunc__", "__array_function__", "__array_interface__", "__float__", "__int__",
    "__index__", "__complex__", "__getattr__", "__getattribute__", "__instancecheck__",
    "__subclasscheck__", "__class_getitem__", "__init_subclass__", "__set_name__", "__del__",
    "__reduce__", "__reduce_ex__",
}

# Library names notebooks import at the top; assigning to their attributes patches them.
KNOWN_MODULE_NAMES = {"np", "numpy", "tf", "tensorflow", "keras", "plt", "matplotlib", "math",
                      "course_lib", "checks", "random", "os", "pathlib", "PIL", "Image", "layers",
                      "runtime", "scipy", "pd", "pandas", "skimage"}

# Text that only a search for the instructor's notebook would contain.
BLOCKED_TEXT = ("ipynb", "BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "labs/", "nbgrader")


def screen_answer(source):
    """Returns the reasons why an answer cell must not run (an empty list when it may).

    Args:
        source: the answer cell's code, as the student submitted it.

    Returns:
        A sorted list of short reasons, e.g. ["uses get_ipython"].
    """
    reasons = set()
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            reasons.add(f"line {number}: IPython magics and shell commands (% and !)")
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        # Nothing to screen: the cell fails when it runs and its question scores 0.
        return sorted(reasons)
    module_names = set(KNOWN_MODULE_NAMES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                module_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
            if node.value.id in module_names:
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        module_names.add(target.id)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            if isinstance(node, ast.ImportFrom) and node.level:
                reasons.add(f"line {line}: relative import")
            for name in names:
                if name.split(".")[0] in BLOCKED_MODULES or name.startswith(BLOCKED_SUBMODULES):
                    reasons.add(f"line {line}: imports {name}")
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in BLOCKED_NAMES or alias.name in BLOCKED_ATTRIBUTES:
                        reasons.add(f"line {line}: imports {alias.name}")
        elif isinstance(node, ast.Name):
            if node.id in BLOCKED_NAMES:
                reasons.add(f"line {line}: uses {node.id}")
            elif node.id.startswith("__") and node.id != "__name__":
                reasons.add(f"line {line}: uses {node.id}")
            elif node.id.startswith("_course_lib"):
                reasons.add(f"line {line}: uses the grader's name {node.id}")
        elif isinstance(node, ast.Attribute):
            if node.attr in BLOCKED_ATTRIBUTES:
                reasons.add(f"line {line}: uses .{node.attr}")
            elif (node.attr.startswith("__") and node.attr.endswith("__")
                  and node.attr not in ALLOWED_DUNDERS):
                reasons.add(f"line {line}: uses .{node.attr}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in BLOCKED_METHODS and _inside_class(tree, node):
                reasons.add(f"line {line}: defines {node.name} (fakes comparisons or conversions)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            for blocked in BLOCKED_TEXT:
                if blocked in text:
                    reasons.add(f"line {line}: the text {blocked!r}")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete))
                       else [node.target])
            for target in targets:
                for element in _flatten(target):
                    root = _root_name(element)
                    if isinstance(element, (ast.Attribute, ast.Subscript)) and root in module_names:
                        reasons.add(f"line {line}: changes the library object "
                                    f"{ast.unparse(element)}")
    return sorted(reasons)


def _flatten(target):
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _flatten(element)
    elif isinstance(target, ast.Starred):
        yield from _flatten(target.value)
    else:
        yield target


def _root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _inside_class(tree, function):
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and function in node.body:
            return True
    return False
