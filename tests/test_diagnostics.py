"""The course_lib.diagnostics package as a whole."""

import subprocess
import sys


def test_the_diagnostics_that_need_no_model_import_no_tensorflow():
    # Curves, searches and the mistakes gallery are NumPy: importing them stays instant.
    code = ("import sys\n"
            "import course_lib.diagnostics.curves, course_lib.diagnostics.search\n"
            "import course_lib.diagnostics.mistakes, course_lib.diagnostics.filters, course_lib.diagnostics.checks\n"
            "import course_lib.diagnostics.tables\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
