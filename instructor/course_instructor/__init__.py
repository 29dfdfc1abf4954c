"""Instructor tools: lint, release, grade, verify (not installed for students)."""
