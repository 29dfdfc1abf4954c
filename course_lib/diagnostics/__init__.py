"""diagnostics sub-package of course_lib."""
