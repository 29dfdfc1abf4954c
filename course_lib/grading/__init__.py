"""grading sub-package of course_lib."""
