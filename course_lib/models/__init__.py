"""Keras model builders. Importing any of them imports TensorFlow, quietly, once, here."""

from course_lib import runtime

runtime.quiet_tensorflow()
