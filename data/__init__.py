"""Data files shipped with course_lib (see README.md here); resolved by course_lib.runtime.data_path."""
