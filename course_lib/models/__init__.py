"""models sub-package of course_lib."""
