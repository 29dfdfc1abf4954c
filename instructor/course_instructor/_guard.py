"""Runs inside the grading kernel: notices when an answer cell tampered with the kernel.

The grader calls `snapshot()` after each instructor cell (trusted code) and
`verify()` after each answer and check cell. `verify()` raises `TamperError`
naming what changed since the last snapshot: a NumPy or builtin function that
checks rely on, a check helper, an IPython hook that could rewrite or swallow a
cell, a trace function. Instructor cells may change these freely (they are
snapshotted), student cells may not.
"""

import builtins
import sys

_NUMPY_NAMES = ("allclose", "isclose", "array_equal", "asarray", "array", "all", "any", "abs",
                "max", "min", "sum", "mean", "isfinite", "float64", "ndarray", "bincount",
                "zeros", "ones", "argmax", "exp", "log")
_NUMPY_TESTING = ("assert_allclose", "assert_array_equal", "assert_equal", "assert_almost_equal")
_BUILTIN_NAMES = ("isinstance", "issubclass", "type", "float", "int", "bool", "len", "abs", "all",
                  "any", "sum", "max", "min", "round", "range", "print", "hasattr", "getattr",
                  "callable", "repr", "str", "tuple", "list", "dict", "set", "zip", "enumerate",
                  "AssertionError", "Exception", "ValueError", "TypeError", "__import__")
_CHECK_NAMES = ("check_close", "check_shape", "check_equal", "check_true", "check_in_range",
                "CheckError", "_fail", "_as_float_array", "_asarray", "_all", "_abs", "_max",
                "_isfinite", "_array_equal", "_float64")
_SHELL_METHODS = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback",
                  "transform_cell", "should_run_async", "_showtraceback", "ex", "ev")
# Modules whose code may register IPython event callbacks on first use (inline plots).
_TRUSTED_CALLBACK_MODULES = ("matplotlib", "matplotlib_inline", "IPython", "ipykernel",
                             "ipywidgets", "tqdm")


class TamperError(RuntimeError):
    """An answer cell changed something the checks rely on."""


_state = {}


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the grader always runs in IPython
        return None
    return get_ipython()


def _collect():
    found = {}
    import numpy
    import course_lib.checks as checks
    for name in _NUMPY_NAMES:
        found[f"numpy.{name}"] = getattr(numpy, name, None)
    for name in _NUMPY_TESTING:
        found[f"numpy.testing.{name}"] = getattr(numpy.testing, name, None)
    for name in _BUILTIN_NAMES:
        found[f"builtins.{name}"] = getattr(builtins, name, None)
    for name in _CHECK_NAMES:
        found[f"course_lib.checks.{name}"] = getattr(checks, name, None)
    found["sys.modules[course_lib.checks]"] = sys.modules.get("course_lib.checks")
    found["sys.gettrace()"] = sys.gettrace()
    found["sys.getprofile()"] = sys.getprofile()
    shell = _shell()
    if shell is not None:
        found["shell.input_transformers_cleanup"] = tuple(shell.input_transformers_cleanup)
        found["shell.input_transformers_post"] = tuple(shell.input_transformers_post)
        found["shell.ast_transformers"] = tuple(shell.ast_transformers)
        found["shell.custom_exceptions"] = tuple(shell.custom_exceptions)
        found["shell.CustomTB"] = getattr(shell, "CustomTB", None)
        for name in _SHELL_METHODS:
            found[f"shell.{name} (instance override)"] = shell.__dict__.get(name)
        found["type(shell)"] = type(shell)
    return found


def _callbacks():
    shell = _shell()
    if shell is None:
        return {}
    return {event: list(callbacks) for event, callbacks in shell.events.callbacks.items()}


def _same(a, b):
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))
    return a is b


def snapshot():
    """Records the current state as trusted."""
    _state["objects"] = _collect()
    _state["callbacks"] = _callbacks()


def verify():
    """Raises `TamperError` if something changed since the last `snapshot()`."""
    if "objects" not in _state:
        raise TamperError("the grader's snapshot is missing (was the guard module reloaded?)")
    changed = sorted(name for name, value in _collect().items()
                     if not _same(value, _state["objects"].get(name)))
    before = _state["callbacks"]
    for event, callbacks in _callbacks().items():
        known = before.get(event, [])
        for callback in callbacks:
            if any(callback is k for k in known):
                continue
            module = getattr(callback, "__module__", None) or ""
            if not module.startswith(_TRUSTED_CALLBACK_MODULES):
                changed.append(f"IPython event callback for {event!r}")
    if changed:
        raise TamperError("changed by the answer: " + ", ".join(changed))
    # Trusted additions (inline plotting hooks) become part of the baseline.
    _state["callbacks"] = _callbacks()
