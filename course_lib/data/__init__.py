"""data sub-package of course_lib."""
