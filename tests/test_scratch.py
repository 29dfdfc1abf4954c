"""The course_lib.scratch package as a whole: NumPy only, and every docstring example runs."""

import doctest
import importlib
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import course_lib.scratch

MODULES = sorted(f"course_lib.scratch.{info.name}" for info in pkgutil.iter_modules(course_lib.scratch.__path__))


def test_every_scratch_module_imports_no_tensorflow():
    # A fresh interpreter: the tests themselves import TensorFlow as the reference.
    code = ("import sys\n"
            f"for name in {MODULES!r}:\n"
            "    __import__(name)\n"
            "    assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, name + ' imported TensorFlow'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(MODULES) >= 13  # conv, gradcheck, initializers, layers, losses, lstm, ..., worked_examples


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_package_exports_exist():
    missing = [name for name in course_lib.scratch.__all__ if not hasattr(course_lib.scratch, name)]
    assert missing == []
