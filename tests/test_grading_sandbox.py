"""The OS sandbox a submission runs in (course_instructor.sandbox), attacked as a student would.

Each attack is a student's answer run in a sandboxed kernel; the assertions are made from
outside (this process): no file changed outside the sandbox, the grader alive, every
other student's result written. Needs bubblewrap (`apt-get install bubblewrap`; .ci/run
installs it).
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from course_instructor import format as fmt
from course_instructor import sandbox
from course_instructor.sandbox import Limits, make_kernel_factory

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).parent / "fixtures" / "grading" / "source.ipynb"
SECRET = "course-lib-secret-9f3a"
TEST_LIMITS = Limits(cpu_seconds=60, memory_mb=1536, wall_seconds=90, processes=64,
                     disk_mb=64, file_mb=8)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="bubblewrap is Linux-only")


def digest(*roots):
    """Hash of every file (path, bytes, mode) under `roots`: equal before and after = unchanged."""
    h = hashlib.sha256()
    for root in roots:
        root = Path(root)
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in paths:
            if "__pycache__" in path.parts:
                continue
            h.update(str(path).encode())
            if path.is_file() and not path.is_symlink():
                h.update(path.read_bytes())
                h.update(oct(path.stat().st_mode).encode())
    return h.hexdigest()


def protected_paths(*extra):
    """Hashed before and after an attack. The repository's own folders are checked with
    `assert_not_written` instead: other people may edit them while the tests run."""
    return list(extra)


def assert_not_written(markers=(b"pwned", b"EVIL = 1")):
    """No file of the library, data, labs, grader or the real HOME's caches and IPython profile
    holds what the attacks write (other jobs may change these folders: no hash)."""
    home = Path.home()
    folders = [REPO / name for name in ("course_lib", "data", "labs", "instructor")]
    folders += [home / ".ipython", home / ".keras", home / ".cache" / "course_lib"]
    for folder in folders:
        for path in folder.rglob("*") if folder.is_dir() else []:
            if path.is_file() and path.stat().st_size < 50_000_000:
                data = path.read_bytes()
                assert not any(marker in data for marker in markers), path


@pytest.fixture(scope="module")
def secret_source(tmp_path_factory):
    """An 'instructor source' the kernel must not read, and a host listener it must not reach."""
    folder = tmp_path_factory.mktemp("instructor")
    path = folder / "lab.ipynb"
    path.write_text(json.dumps({"secret": SECRET}))
    return path


@pytest.fixture(scope="module")
def kernel():
    """One sandboxed kernel for the attacks that leave it alive."""
    k = make_kernel_factory(limits=TEST_LIMITS)()
    k.start()
    yield k
    k.stop()


def run(k, code, timeout=30):
    return k.run(textwrap.dedent(code), timeout)


def test_kernel_runs_with_fresh_home_and_only_allowed_environment(kernel):
    os.environ["G2_TEST_TOKEN"] = "do-not-pass"
    try:
        result = run(kernel, """
            import os, json
            print(json.dumps({"home": os.environ["HOME"], "cwd": os.getcwd(),
                              "uid": os.getuid(), "home_files": sorted(os.listdir(os.environ["HOME"])),
                              "env": sorted(os.environ)}))
            """)
    finally:
        del os.environ["G2_TEST_TOKEN"]
    assert result.ok, result.evalue
    seen = json.loads(result.stdout)
    assert seen["home"] == "/home/student" and seen["cwd"] == "/home/student/work"
    assert seen["uid"] == sandbox.SANDBOX_USER
    assert not set(seen["env"]) & {"G2_TEST_TOKEN", "JPY_PARENT_PID", "VIRTUAL_ENV", "PWD_HOST"}
    for name in ("IPYTHONDIR", "MPLCONFIGDIR", "KERAS_HOME", "COURSE_LIB_CACHE", "TMPDIR"):
        assert name in seen["env"]


def test_instructor_source_and_repository_are_not_visible(kernel, secret_source):
    result = run(kernel, f"""
        import os, glob
        found = []
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:      # /proc/<ppid>/cmdline trick
            try:
                found.append(open(f"/proc/{{pid}}/cmdline", "rb").read().decode(errors="replace"))
            except OSError:
                pass
        cmdlines = " ".join(found)
        outcomes = []
        for path in [{str(secret_source)!r}, {str(REPO / "labs" / "01_dnn_from_scratch.ipynb")!r},
                     {str(REPO / ".git" / "config")!r}, {str(REPO / "tests" / "conftest.py")!r}]:
            try:
                os.close(os.open(path, os.O_RDONLY))
                outcomes.append("READ " + path)
            except OSError as error:
                outcomes.append(type(error).__name__)
        print(outcomes, sorted(os.listdir({str(REPO)!r})), len(found), "pytest" in cmdlines,
              {str(secret_source)!r} in cmdlines,
              [p for top in ("/home", "/tmp", "/work", "/root") for p in glob.glob(top + "/**/*.ipynb", recursive=True)])
        """, timeout=60)
    assert result.ok, result.evalue
    assert "READ" not in result.stdout and SECRET not in result.stdout
    assert "['FileNotFoundError', 'FileNotFoundError', 'FileNotFoundError', 'FileNotFoundError']" \
        in result.stdout
    listing = result.stdout.split("] ", 1)[1]
    assert "'labs'" not in listing and "'.git'" not in listing and "'tests'" not in listing
    assert " False False []" in result.stdout        # no grader in /proc, no notebook anywhere


def test_writes_outside_the_sandbox_fail_and_change_nothing(kernel, tmp_path):
    before = digest(*protected_paths(tmp_path))
    result = run(kernel, f"""
        import os
        from ipykernel.connect import get_connection_file
        from course_lib.runtime import data_path
        import course_lib
        targets = [os.path.join(os.path.dirname(course_lib.__file__), "checks.py"),
                   str(data_path("fashion_mnist_small.npz")), {str(REPO / "labs" / "x.ipynb")!r},
                   {str(tmp_path / "results.json")!r}, {str(Path.home() / ".ipython" / "x.py")!r},
                   "/usr/lib/evil", "/etc/evil",
                   os.path.join(os.path.dirname(get_connection_file()), "filler")]   # socket folder
        outcomes = []
        for target in targets:
            try:
                with open(target, "a") as handle:
                    handle.write("pwned")
                outcomes.append("WROTE " + target)
            except OSError as error:
                outcomes.append(type(error).__name__)
        os.makedirs({str(tmp_path / "results.json")!r})   # lands in the sandbox's own /tmp
        print(outcomes)
        """)
    assert result.ok, result.evalue
    assert "WROTE" not in result.stdout
    assert not (tmp_path / "results.json").exists()
    assert_not_written()
    assert digest(*protected_paths(tmp_path)) == before


def test_ipython_startup_file_and_cache_do_not_reach_the_next_submission(kernel):
    result = run(kernel, """
        import os, pathlib
        startup = pathlib.Path(os.environ["IPYTHONDIR"]) / "profile_default" / "startup"
        startup.mkdir(parents=True, exist_ok=True)
        (startup / "00-evil.py").write_text("EVIL = 1\\n")
        cache = pathlib.Path(os.environ["COURSE_LIB_CACHE"])
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "poisoned.npz").write_text("x")
        print("written")
        """)
    assert result.ok and "written" in result.stdout
    assert_not_written()
    with make_kernel_factory(limits=TEST_LIMITS)() as other:
        result = other.run("import os\nprint('EVIL' in globals(), "
                           "os.listdir(os.environ['HOME']), "
                           "os.path.exists(os.path.join(os.environ['COURSE_LIB_CACHE'], "
                           "'poisoned.npz')))", 30)
    assert result.ok, result.evalue
    assert result.stdout.startswith("False") and result.stdout.strip().endswith("False")


def test_no_network_not_even_the_graders_localhost(kernel):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        result = run(kernel, f"""
            import socket
            outcomes = []
            for address in [("127.0.0.1", {port}), ("8.8.8.8", 53), ("pypi.org", 443)]:
                try:
                    socket.create_connection(address, timeout=3).close()
                    outcomes.append("CONNECTED")
                except OSError as error:
                    outcomes.append(type(error).__name__)
            print(outcomes)
            """)
    finally:
        listener.close()
    assert result.ok, result.evalue
    assert "CONNECTED" not in result.stdout


def test_memory_hog_hits_the_limit_and_the_kernel_survives(kernel):
    result = run(kernel, "hog = bytearray(3 * 1024**3)")
    assert result.status == "error" and result.ename == "MemoryError"
    assert run(kernel, "print(1 + 1)").stdout.strip() == "2"


def test_fork_bomb_is_stopped_by_the_process_limit():
    cgroups = sandbox._Cgroups(TEST_LIMITS)
    enforced = cgroups.has("pids") or os.getuid() != 0
    cgroups.remove()
    if not enforced:
        pytest.skip("running as root without a writable pids cgroup: RLIMIT_NPROC is not "
                    "enforced for root, so no process limit applies here")
    with make_kernel_factory(limits=TEST_LIMITS)() as k:
        result = run(k, """
            import os, time
            children = 0
            for _ in range(400):
                try:
                    if os.fork() == 0:
                        time.sleep(60)
                        os._exit(0)
                    children += 1
                except OSError as error:
                    print("stopped by", type(error).__name__)
                    break
            print("children", children)
            """, timeout=60)
        assert result.ok, result.evalue
        assert "stopped by" in result.stdout
        assert int(result.stdout.split("children")[1]) < TEST_LIMITS.processes


def test_cpu_loop_is_killed_at_the_cpu_limit():
    with make_kernel_factory(limits=TEST_LIMITS.merged(cpu_seconds=4))() as k:
        started = time.monotonic()
        result = run(k, "while True:\n    pass", timeout=60)
        assert result.status == "dead"
        assert time.monotonic() - started < 40


def test_wall_clock_limit_ends_the_sandbox():
    with make_kernel_factory(limits=TEST_LIMITS.merged(wall_seconds=8))() as k:
        result = run(k, "import time\ntime.sleep(60)", timeout=60)
        assert result.status == "timeout"


def test_killing_everything_and_forking_a_survivor_leaves_nothing_behind(tmp_path):
    """`kill -9 -1`, killing the parent, a setsid'd child meant to write later: all contained."""
    marker = tmp_path / "late-write"
    with make_kernel_factory(limits=TEST_LIMITS)() as k:
        # PID 1 of the sandbox ignores its children's SIGKILL; kill -1 reaches only the sandbox.
        result = run(k, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                        "os.kill(-1, signal.SIGKILL)\nprint('still here')", timeout=30)
        assert result.status in ("ok", "error", "dead")      # error: no other process to kill
        assert result.status != "dead", "the sandbox's kernel survives its own kill attempts"
        result = run(k, f"""
            import subprocess
            subprocess.Popen(["sh", "-c", "sleep 2; echo pwned > {marker}; echo pwned > /tmp/late"],
                             start_new_session=True)
            print("forked")
            """)
        assert result.stdout.strip() == "forked"
    time.sleep(3)
    assert not marker.exists()
    survivors = subprocess.run(["pgrep", "-f", str(marker)], capture_output=True, text=True)
    assert survivors.stdout.strip() == ""
    assert os.getpid() and Path("/proc/self").exists()      # the grader (this process) is alive


def test_missing_bwrap_stops_with_how_to_fix(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailableError, match=r"bwrap.*not found.*apt-get install "
                                                             r"bubblewrap.*docker run.*--no-sandbox"):
        make_kernel_factory()


def test_bad_arguments_say_what_was_received(tmp_path):
    with pytest.raises(ValueError, match=r"memory_mb should be a positive number.*Received: memory_mb=-1"):
        Limits(memory_mb=-1)
    with pytest.raises(ValueError, match=r"course_lib_dir should be a copy.*Received: course_lib_dir="):
        make_kernel_factory(course_lib_dir=tmp_path)
    with pytest.raises(ValueError, match=r"limits should be a course_instructor.sandbox.Limits"):
        make_kernel_factory(limits={"memory_mb": 1})
    with pytest.raises(ValueError, match=r"run_as_user names no user.*Received: run_as_user="):
        make_kernel_factory(sandbox=False, run_as_user="no-such-user-g2")


def test_course_lib_dir_replaces_the_package_read_only(tmp_path):
    import course_lib
    copy = tmp_path / "course_lib"
    subprocess.run(["cp", "-r", os.path.dirname(course_lib.__file__), str(copy)], check=True)
    (copy / "poisoned_marker.py").write_text("POISONED = True\n")
    with make_kernel_factory(course_lib_dir=copy, limits=TEST_LIMITS)() as k:
        result = run(k, """
            from course_lib.poisoned_marker import POISONED
            import course_lib, os
            try:
                open(os.path.join(os.path.dirname(course_lib.__file__), "x.py"), "w")
                print(POISONED, "WROTE")
            except OSError as error:
                print(POISONED, type(error).__name__)
            """)
    assert result.ok, result.evalue
    assert result.stdout.strip() == "True OSError"


def test_plain_kernel_has_fresh_home_but_no_isolation():
    with make_kernel_factory(sandbox=False)() as k:
        result = k.run("import os\nprint(os.environ['HOME'] != os.path.expanduser('~root'), "
                       "os.path.isdir(os.environ['IPYTHONDIR']), os.getcwd().endswith('work'))", 30)
    assert result.stdout.strip() == "True True True"


@pytest.mark.skipif(os.getuid() != 0, reason="switching the kernel to another user needs root")
def test_unprivileged_user_fallback_cannot_read_root_files_or_write_outside(tmp_path):
    """The Gradescope fallback (no bwrap): the kernel runs as another user. Checked inside a
    throw-away container (bwrap as root) where the Python installation is world-readable,
    as in Gradescope's image."""
    secret = tmp_path / "autograder"
    secret.mkdir(mode=0o700)
    (secret / "lab.ipynb").write_text(SECRET)
    script = tmp_path / "user_mode.py"
    script.write_text(textwrap.dedent(f"""
        from course_instructor.sandbox import make_kernel_factory, Limits
        with make_kernel_factory(sandbox=False, run_as_user=65534,
                                 limits=Limits(processes=32, memory_mb=1536))() as k:
            r = k.run('''import os, subprocess
        outcomes = [os.getuid()]
        for path in [{str(secret / "lab.ipynb")!r}, {str(secret / "results.json")!r}]:
            try:
                open(path, "a").close(); outcomes.append("OPENED")
            except OSError as error:
                outcomes.append(type(error).__name__)
        subprocess.Popen(["sleep", "1000"], start_new_session=True)
        print(outcomes)''', 60)
            print("RESULT", r.status, r.stdout.strip())
    """))
    home = Path.home()
    python = Path(os.path.realpath(sys.executable)).parents[1]
    command = ["bwrap", "--bind", "/", "/"]
    if home in python.parents or home in REPO.parents:      # HOME is 0700: show only these
        command += ["--tmpfs", str(home)]
        for path in {python, REPO, Path(sys.prefix)}:
            if home in path.parents:      # e.g. ~/.pyenv (folders bwrap creates would be 0700)
                top = home / path.relative_to(home).parts[0]
                command += ["--bind", str(top), str(top)]
    command += ["--dev-bind", "/dev", "/dev", "--proc", "/proc", "--unshare-pid",
                "--die-with-parent", sys.executable, str(script)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    line = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    assert line[0] == "RESULT ok [65534, 'PermissionError', 'PermissionError']"


# ---------------------------------------------------------------------------- end to end

RELU_OK = "def relu(x):\n    return np.maximum(np.asarray(x, dtype=float), 0.0)"
SOFTMAX_OK = ("def softmax(logits):\n    z = np.asarray(logits, dtype=float)\n"
              "    e = np.exp(z - z.max(axis=1, keepdims=True))\n"
              "    return e / e.sum(axis=1, keepdims=True)")
PARAMS_OK = "num_params = 16"


def write_submission(folder, student, answers):
    from course_instructor.release import notebook_bytes, release_notebook
    nb = release_notebook(fmt.read_notebook(SOURCE), "source.ipynb")
    for cell in nb.cells:
        if fmt.grade_id(cell) in answers:
            cell.source = answers[fmt.grade_id(cell)]
    (folder / f"{student}.ipynb").write_bytes(notebook_bytes(nb))


def test_grade_submissions_in_sandboxes_keeps_every_result_whatever_one_student_does(tmp_path):
    from course_instructor.grade import grade_submissions
    submissions, out = tmp_path / "submitted", tmp_path / "grades"
    submissions.mkdir()
    honest = {"q1_relu": RELU_OK, "q2_softmax": SOFTMAX_OK, "q3_params": PARAMS_OK}
    killer = RELU_OK + "\nimport os as o, signal as s\no.kill(o.getppid(), s.SIGKILL)\no.kill(-1, s.SIGKILL)"
    late = (RELU_OK + "\nimport subprocess as p\np.Popen(['sh', '-c', 'sleep 2; echo pwned > "
            f"{out / 'scores.csv'}; mkdir -p {out / 'results.json'}; echo pwned >> "
            f"{REPO / 'data' / 'README.md'}'], start_new_session=True)")
    write_submission(submissions, "alice", honest)
    write_submission(submissions, "bob", dict(honest, q1_relu=killer))
    write_submission(submissions, "carol", dict(honest, q1_relu=late))
    write_submission(submissions, "dave", honest)
    before = digest(*protected_paths(SOURCE, submissions))
    results = grade_submissions(SOURCE, submissions, out=out, cell_timeout=60, notebook_timeout=300)
    scores = {r.student: r.score for r in results}
    assert scores["alice"] == scores["dave"] == 6
    assert set(scores) == {"alice", "bob", "carol", "dave"}
    written = (out / "scores.csv").read_text()
    time.sleep(3)                                   # the late writer would have fired by now
    assert (out / "scores.csv").read_text() == written
    assert (out / "results.json").is_file()
    assert [row.split(",")[0] for row in written.splitlines()[1:]] == ["alice", "bob", "carol", "dave"]
    for student in scores:
        assert (out / student / "results.json").is_file()
    assert digest(*protected_paths(SOURCE, submissions)) == before
    assert_not_written()
