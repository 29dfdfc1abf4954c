"""Tests for the course_lib.metrics package as a whole."""

import doctest
import subprocess
import sys

import numpy as np
import pytest

from course_lib.metrics import boxes, detection, segmentation


def test_metrics_import_no_tensorflow():
    # In a fresh interpreter: importing both metric modules through the package must not load TF.
    code = ("import sys, course_lib.metrics.detection, course_lib.metrics.segmentation\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", [boxes, detection, segmentation], ids=lambda m: m.__name__)
def test_docstring_examples_give_the_printed_output(module):
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
