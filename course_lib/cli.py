"""The `course-lib` console command (declared in pyproject.toml); see `course_lib.grading.cli`."""

import sys

from course_lib.grading.cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
