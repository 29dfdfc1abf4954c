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


def _pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_requirements_pin_colabs_online_libraries():
    # The course's online paths need tfds and keras-hub: pinned to Colab's GPU runtime.
    pins = _pins()
    for name in ("tensorflow", "keras", "keras-hub", "tensorflow-datasets", "numpy"):
        assert name in pins, f"requirements.txt should pin {name} to Colab's version"
    assert "importlib_resources" in (ROOT / "requirements.txt").read_text()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = config["project"]["optional-dependencies"]
    assert any(d.startswith("keras>=3.13") for d in extras["tf"])
    assert {d.split(">")[0] for d in extras["online"]} >= {"tensorflow-datasets", "keras-hub"}


def test_installed_versions_are_the_pinned_ones():
    # CI installs requirements.txt: the tests run Colab's versions, not whatever pip picks.
    from importlib.metadata import PackageNotFoundError, version
    wrong = {}
    for name, pinned in _pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong[name] = (pinned, installed)
    assert not wrong, f"installed versions differ from requirements.txt (pinned, installed): {wrong}"
