"""The install that Colab does (pip install from the git URL, not editable) must carry everything."""

import tomllib
from pathlib import Path

import course_lib

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "course_lib").rglob("__init__.py")}
    missing = found - listed
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_tensorflow_is_not_a_hard_dependency():
    # Colab ships TensorFlow with CUDA; letting pip resolve it there can replace it.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any(d.startswith(("tensorflow", "keras")) for d in config["project"]["dependencies"])


def test_exported_names_resolve():
    for name in course_lib._EXPORTS:
        assert getattr(course_lib, name) is not None, name
