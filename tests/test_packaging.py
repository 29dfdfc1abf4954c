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


# ---------------------------------------------------------------- the student tree (published)

import json
import os
import subprocess
import sys

import pytest

from course_instructor import format as fmt
from course_instructor import release

# Solution regions that are, verbatim, the library's own reference of a from-scratch question
# (students import the library; its reference formulas are public by design). Any other
# solution text found in the student tree fails the test.
LIBRARY_REFERENCES = {
    ("06_rnn_lstm.ipynb", "return np.tanh(x_t @ kernel + h_prev @ recurrent_kernel + bias)"):
        "course_lib/scratch/rnn.py",
    ("07_autoencoders.ipynb", "return mean + ops.exp(0.5 * log_var) * epsilon"):
        "course_lib/models/autoencoders.py",
}


@pytest.fixture(scope="module")
def student_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("published") / "student"
    report = release.build_student_tree(out, ROOT / "labs", root=ROOT)
    assert report.ok and len(report.notebooks.written) == len(list((ROOT / "labs").glob("*.ipynb")))
    return out


def _normalized(text):
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def _tree_texts(tree):
    texts = {}
    for path in tree.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".ipynb":   # compare with the cells' text, not its JSON escapes
            cells = json.loads(path.read_text())["cells"]
            texts[path] = _normalized("\n".join("".join(cell["source"]) for cell in cells))
        else:
            try:
                texts[path] = _normalized(path.read_text())
            except UnicodeDecodeError:
                texts[path] = ""
    return texts


def _secret_regions():
    regions = []
    for lab in sorted((ROOT / "labs").glob("*.ipynb")):
        for cell in fmt.read_notebook(lab).cells:
            source = fmt.source_text(cell)
            lines = source.split("\n")
            for kind in (fmt.SOLUTION, fmt.HIDDEN):
                for begin, end in fmt.find_regions(source, kind):
                    text = _normalized("\n".join(lines[begin + 1:end]))
                    if text:
                        regions.append((lab.name, kind, text))
    return regions


def test_student_tree_holds_no_solution_and_no_hidden_check(student_tree):
    texts = _tree_texts(student_tree)
    regions = _secret_regions()
    assert len(regions) > 50 and {kind for _, kind, _ in regions} == {fmt.SOLUTION, fmt.HIDDEN}
    leaks, references = [], set()
    for lab, kind, text in regions:
        for path, content in texts.items():
            if text in content:
                where = path.relative_to(student_tree).as_posix()
                if LIBRARY_REFERENCES.get((lab, text)) == where and kind == fmt.SOLUTION:
                    references.add((lab, text))
                else:
                    leaks.append(f"{lab} {kind} region {text[:60]!r} in {where}")
    assert not leaks, "\n".join(leaks)
    assert references == set(LIBRARY_REFERENCES)   # the allowed list is not stale
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert not any(marker in content for path, content in texts.items()
                       if "colab" in path.parts), marker


def test_student_tree_holds_nothing_of_labs_instructor_or_tests(student_tree):
    names = {path.relative_to(student_tree).as_posix() for path in student_tree.rglob("*")
             if path.is_file()}
    assert {name.split("/")[0] for name in names} == {
        "colab", "course_lib", "data", "README.md", "pyproject.toml", "requirements.txt",
        "LICENSE", ".gitignore"}
    private = {}
    for folder in ("labs", "instructor", "tests", "bench", "docs", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                private.setdefault(path.read_bytes(), path.relative_to(ROOT).as_posix())
    copies = [f"{name} is {private[(student_tree / name).read_bytes()]}" for name in names
              if (student_tree / name).read_bytes() in private]
    assert not copies, copies
    config = tomllib.loads((student_tree / "pyproject.toml").read_text())
    assert "test" not in config["project"]["optional-dependencies"]
    assert "pytest" not in config.get("tool", {})
    assert config["tool"]["setuptools"] == tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    requirements = (student_tree / "requirements.txt").read_text()
    assert "instructor" not in requirements and "pytest" not in requirements
    assert "tensorflow==" in requirements and "-e ." in requirements.splitlines()
    readme = (student_tree / "README.md").read_text()
    assert "Save a copy in Drive" in readme and "my_work" in readme and "labs/" not in readme


def test_the_setup_cells_install_works_from_the_student_tree_offline(student_tree, tmp_path):
    # The setup cell's own requirement, `course_lib @ git+<student repo>.git@<tag>`, with the
    # GitHub URL replaced by a local clone of the student tree: no network, no build isolation.
    repo = tmp_path / "student_repo"
    subprocess.run(["cp", "-r", str(student_tree), str(repo)], check=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"],
                    ["tag", release.RELEASE_REF]):
        subprocess.run(git + command, check=True)
    setup = json.loads((student_tree / "colab" / "01_dnn_from_scratch.ipynb").read_text())
    source = "".join(setup["cells"][1]["source"])
    requirement = release.pip_requirement()
    assert repr(requirement) in source
    # file://localhost/...: pip 23's URL parser wants a host
    local = requirement.replace(release.repository_url() + ".git", "file://localhost" + repo.as_posix())
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), local],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert install.returncode == 0, install.stderr
    check = ("import course_lib, course_lib_data, importlib.resources as r; "
             "print(course_lib.__file__); "
             "print(r.files('course_lib_data').joinpath('fashion_mnist_small.npz').is_file())")
    env = dict(os.environ, PYTHONPATH=str(target))
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=120)
    assert imported.returncode == 0, imported.stderr
    where, has_data = imported.stdout.split()
    assert where.startswith(str(target)) and has_data == "True"
    assert not (target / "course_instructor").exists() and not (target / "labs").exists()
