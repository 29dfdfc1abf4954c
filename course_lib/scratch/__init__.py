"""scratch sub-package of course_lib."""
