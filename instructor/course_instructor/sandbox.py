"""Where a submission's code runs: one kernel per submission, in an OS sandbox (bubblewrap).

    factory = make_kernel_factory()                 # sandboxed (the default; needs bwrap)
    with factory() as kernel:                       # a fresh sandbox and kernel
        kernel.run("import course_lib", timeout=60).status     # 'ok'

What the student's kernel sees (Linux, bubblewrap):

- read-only: the system folders (/usr, /lib, a few files of /etc), the Python
  installation and the virtual environment, the `course_lib` package (or the
  folder `course_lib_dir` in its place), its shipped `data/` and the grader's
  own `course_instructor` package (public code, no lab in it);
- writable, fresh and empty for each submission, on size-limited tmpfs: HOME
  (/home/student, holding IPYTHONDIR, MPLCONFIGDIR, KERAS_HOME,
  COURSE_LIB_CACHE), /tmp (TMPDIR), and the working folder /home/student/work;
- one host folder for the kernel's unix sockets and its connection file
  (ZeroMQ `ipc` transport), the only thing shared with the grader (read-only
  once the kernel has started);
- nothing else: not the instructor's notebooks, the repository (.git, labs/,
  tests/), the other submissions, the output folder, the real HOME, the
  grader's environment variables (only an allow-list passes), the network
  (own empty network namespace), or other processes (own PID namespace: the
  sandbox's processes die with it, whatever they fork or `setsid`).

Limits (`Limits`): CPU seconds per process (RLIMIT_CPU), memory per process
(RLIMIT_DATA; TensorFlow's large *virtual* reservations are not counted, its
real allocations are) and per sandbox (memory cgroup where one can be
created), number of processes (pids cgroup; else RLIMIT_NPROC), size of each
written file (RLIMIT_FSIZE), size of HOME and /tmp, and the sandbox's
wall-clock lifetime (killed when it ends).

The root of its file system is read-only too; it runs as an unprivileged
user with no capabilities.

`make_kernel_factory(..., sandbox=False)` runs a plain kernel with the same
fresh HOME and caches but no isolation (the grader prints a warning);
`sandbox=False, run_as_user="student"` (grader running as root) is the
fallback where bubblewrap cannot run, e.g. in Gradescope's container: the
kernel runs as that user, with the same limits.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

from course_instructor.kernel import KernelSession, RunResult

SANDBOX_HOME = "/home/student"
SANDBOX_USER = 65534                    # "nobody" inside the sandbox's user namespace
BWRAP_INSTALL_HELP = (
    "Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
    "`sudo dnf install bubblewrap`). On macOS or Windows, grade inside a Linux container "
    "that has it, as docs/instructors.md shows (`docker run --rm --security-opt "
    "seccomp=unconfined --security-opt apparmor=unconfined ...`). To grade without any "
    "isolation (trusted submissions only), pass --no-sandbox (sandbox=False).")
# Environment variables passed into the sandbox (prefixes); everything else (tokens,
# credentials, paths of the instructor's files) stays outside.
ENV_ALLOWED_PREFIXES = ("COURSE_LIB_", "KERAS_BACKEND", "TF_CPP_", "TF_ENABLE_", "TF_FORCE_",
                        "TF_DETERMINISTIC_OPS", "TF_NUM_", "TF_GPU_", "OMP_", "MKL_", "OPENBLAS_",
                        "CUDA_", "NVIDIA_", "XLA_", "LANG", "LC_", "TZ", "PYTHONHASHSEED",
)
_ENV_NOT_PASSED = ("COURSE_LIB_CACHE", "COURSE_LIB_DATA", "COURSE_LIB_REPORT")
# Files of /etc that Python, TensorFlow and matplotlib read; /etc itself is not mounted.
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "ssl",
              "ca-certificates", "localtime", "mime.types", "nsswitch.conf", "hosts",
              "host.conf", "gai.conf", "protocols", "services", "os-release", "timezone",
              "matplotlibrc")
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed submission (None: no limit of that kind).

    Defaults fit a full-mode lab on a laptop; `course-lib grade` exposes each as an option.

    Attributes:
        cpu_seconds: CPU time of any one process (RLIMIT_CPU; all its threads together).
        memory_mb: memory of any one process (RLIMIT_DATA) and of the whole sandbox
            (memory cgroup, when the grader may create one).
        wall_seconds: lifetime of one sandbox (one kernel); it is killed after that.
        processes: processes and threads in the sandbox (pids cgroup; else RLIMIT_NPROC
            counted over the grading user's processes, not enforced for root).
        disk_mb: size of each writable tmpfs (HOME and /tmp).
        file_mb: size of any one written file (RLIMIT_FSIZE).
    """
    cpu_seconds: float = 4 * 3600
    memory_mb: int = 8192
    wall_seconds: float = 4 * 3600
    processes: int = 1024
    disk_mb: int = 2048
    file_mb: int = 1024

    def __post_init__(self):
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value <= 0):
                raise ValueError(f"Limits.{item.name} should be a positive number (or None for "
                                 f"no limit). Received: {item.name}={value!r}")

    def merged(self, **changes):
        """Returns a copy with the given limits changed (None values leave a limit as it is)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


class SandboxUnavailableError(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


def find_bwrap():
    """Returns the path of a working `bwrap`, or raises `SandboxUnavailableError` saying how to fix it."""
    path = shutil.which("bwrap")
    if sys.platform != "linux" or path is None:
        where = f"this {sys.platform} machine" if sys.platform != "linux" else "PATH"
        raise SandboxUnavailableError(
            f"The grader runs each submission in a bubblewrap sandbox, but `bwrap` was not "
            f"found on {where}. {BWRAP_INSTALL_HELP}")
    probe = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user",
                            "--die-with-parent", "--", "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        raise SandboxUnavailableError(
            f"`bwrap` is installed ({path}) but cannot create a sandbox here: "
            f"{probe.stderr.strip() or f'exit status {probe.returncode}'}. Unprivileged user "
            f"namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or "
            f"kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04), or a container "
            f"blocks them (Docker: --security-opt seccomp=unconfined --security-opt "
            f"apparmor=unconfined). {BWRAP_INSTALL_HELP}")
    return path


def make_kernel_factory(kernel_name="python3", env=None, *, sandbox=True, course_lib_dir=None,
                        limits=None, extra_ro_paths=(), mount_instructor_package=True,
                        startup_timeout=120, run_as_user=None):
    """Returns a zero-argument factory of fresh kernels, one per call (one per submission attempt).

    Args:
        kernel_name: the Jupyter kernel spec to run (its command must be visible in the
            sandbox: the default `python3` is this Python).
        env: environment for the kernel (default: this process's). In the sandbox only
            the allowed variables pass (`ENV_ALLOWED_PREFIXES`, e.g. COURSE_LIB_FAST).
        sandbox: True (default) runs each kernel in a bubblewrap sandbox; False runs a
            plain kernel (fresh HOME and caches only, no isolation).
        course_lib_dir: a folder mounted read-only in place of the `course_lib` package
            (e.g. a copy with some references replaced); default: the installed package.
        limits: a `Limits` (default `Limits()`).
        extra_ro_paths: more host paths to show read-only at the same path.
        mount_instructor_package: show the `course_instructor` package (read-only).
        startup_timeout: seconds a kernel may take to start.
        run_as_user: with sandbox=False, a user name or uid to run the kernel as (the grader
            must be root): the fallback where bubblewrap cannot run (e.g. inside Gradescope's
            container). The kernel then cannot read files only root may read, or write
            outside its fresh HOME; `limits` still apply; the network is not cut.

    Returns:
        A callable returning an unstarted kernel object with `start()`, `run(code, timeout)`
        (-> `RunResult`), `stop()`, `restart()`, usable as a context manager.

    Raises:
        SandboxUnavailableError: sandbox=True but bubblewrap cannot run here.
        ValueError: course_lib_dir is not a folder holding `__init__.py`.
    """
    limits = Limits() if limits is None else limits
    if not isinstance(limits, Limits):
        raise ValueError(f"limits should be a course_instructor.sandbox.Limits. "
                         f"Received: {type(limits).__name__}")
    base_env = dict(os.environ if env is None else env)
    if not sandbox and run_as_user is not None:
        uid, gid = _user_ids(run_as_user)
        return lambda: SandboxKernel(None, [], limits, kernel_name=kernel_name, env=base_env,
                                     startup_timeout=startup_timeout, user=(uid, gid))
    if not sandbox:
        return lambda: PlainKernel(kernel_name=kernel_name, env=base_env,
                                   startup_timeout=startup_timeout)
    bwrap = find_bwrap()
    mounts = sandbox_mounts(course_lib_dir=course_lib_dir, extra_ro_paths=extra_ro_paths,
                            mount_instructor_package=mount_instructor_package)
    return lambda: SandboxKernel(bwrap, mounts, limits, kernel_name=kernel_name, env=base_env,
                                 startup_timeout=startup_timeout)


def _user_ids(user):
    import pwd
    if isinstance(user, str) and user.isdigit():
        user = int(user)
    try:
        entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
        uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        if not isinstance(user, int):
            raise ValueError(f"run_as_user names no user of this machine. Create one (useradd "
                             f"--no-create-home student) or pass a uid. Received: "
                             f"run_as_user={user!r}") from None
        uid, gid = user, user
    if uid == 0:
        raise ValueError("run_as_user should be an unprivileged user, not root. "
                         f"Received: run_as_user={user!r}")
    if os.getuid() != 0:
        raise ValueError(f"run_as_user needs the grader to run as root (it switches the kernel "
                         f"to that user); this process runs as uid {os.getuid()}. "
                         f"Received: run_as_user={user!r}")
    return uid, gid


# ---------------------------------------------------------------------------- mounts

def _package_dir(name):
    import importlib.util
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def sandbox_mounts(course_lib_dir=None, extra_ro_paths=(), mount_instructor_package=True):
    """Returns the read-only mounts [(host path, sandbox path)] of a sandbox.

    Raises:
        ValueError: course_lib_dir is not a package folder.
    """
    mounts = []

    def add(host, target=None):
        host = Path(host)
        if host.exists():
            mounts.append((str(host), str(target or host)))

    prefixes = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                Path(sys.executable).parent, Path(os.path.realpath(sys.executable)).parent}
    for prefix in sorted(prefixes):
        add(prefix)
        if prefix.resolve() != prefix:
            add(prefix.resolve())
    import site
    for folder in site.getsitepackages():
        add(Path(folder).resolve())
    library = _package_dir("course_lib")
    if library is None:
        raise ValueError("course_lib is not importable in the grader's Python; install it "
                         "(pip install -e . from the repository).")
    if course_lib_dir is not None:
        course_lib_dir = Path(course_lib_dir).resolve()
        if not (course_lib_dir / "__init__.py").is_file():
            raise ValueError(f"course_lib_dir should be a copy of the course_lib package (a "
                             f"folder holding __init__.py). Received: "
                             f"course_lib_dir={str(course_lib_dir)!r}")
        add(course_lib_dir, library)
    else:
        add(library)
    data = _package_dir("course_lib_data")
    if data is None:
        data = library.parent / "data"
    add(data)
    if mount_instructor_package:
        add(_package_dir("course_instructor"))
    for path in extra_ro_paths:
        add(Path(path).resolve())
    return mounts


def _bwrap_args(mounts, run_dir, limits):
    args = ["--unshare-user", "--uid", str(SANDBOX_USER), "--gid", str(SANDBOX_USER),
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev",
            # jupyter_client sets it to the grader's PID, meaningless in the PID namespace
            # (ipykernel would take PID 1 for a dead parent and exit).
            "--unsetenv", "JPY_PARENT_PID"]
    for folder in _SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for name in _ETC_FILES:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    size = [] if limits.disk_mb is None else ["--size", str(int(limits.disk_mb * 2**20))]
    args += size + ["--tmpfs", "/tmp"] + size + ["--tmpfs", "/home"]
    for host, target in mounts:
        args += ["--ro-bind", host, target]
    # The kernel's sockets and connection file, at the same path as on the host.
    args += ["--bind", str(run_dir), str(run_dir)]
    for folder in _sandbox_dirs().values():
        args += ["--dir", folder]
    args += ["--remount-ro", "/", "--chdir", f"{SANDBOX_HOME}/work"]
    return args


def _sandbox_dirs(home=SANDBOX_HOME):
    return {"HOME": home, "IPYTHONDIR": f"{home}/.ipython",
            "MPLCONFIGDIR": f"{home}/.config/matplotlib", "KERAS_HOME": f"{home}/.keras",
            "XDG_CACHE_HOME": f"{home}/.cache", "COURSE_LIB_CACHE": f"{home}/.cache/course_lib",
            "JUPYTER_CONFIG_DIR": f"{home}/.jupyter", "JUPYTER_DATA_DIR": f"{home}/.local/share/jupyter",
            "JUPYTER_RUNTIME_DIR": f"{home}/.local/share/jupyter/runtime", "WORK": f"{home}/work",
            "TMPDIR": "/tmp" if home == SANDBOX_HOME else f"{home}/tmp"}


def sandbox_env(env, home=SANDBOX_HOME):
    """The kernel's environment: the allowed variables of `env`, fresh HOME and caches."""
    kept = {k: v for k, v in env.items()
            if k.startswith(ENV_ALLOWED_PREFIXES) and k not in _ENV_NOT_PASSED}
    dirs = _sandbox_dirs(home)
    kept.update({k: v for k, v in dirs.items() if k != "WORK"})
    kept["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    kept["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    kept["PYTHONNOUSERSITE"] = "1"
    kept["PYTHONDONTWRITEBYTECODE"] = "1"
    return kept


# ---------------------------------------------------------------------------- cgroups

class _Cgroups:
    """Per-sandbox pids and memory cgroups, where this process may create them (else nothing)."""

    def __init__(self, limits):
        self.paths = []
        wanted = {"pids": ("pids.max", limits.processes),
                  "memory": ("memory.limit_in_bytes", None if limits.memory_mb is None
                             else int(limits.memory_mb * 2**20))}
        name = f"course-lib-{secrets.token_hex(4)}"
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if controllers == "":   # cgroup v2: one hierarchy for every controller
                base = Path("/sys/fs/cgroup") / path.lstrip("/")
                settings = [("pids.max", limits.processes),
                            ("memory.max", wanted["memory"][1])]
            elif controllers in wanted:
                base = Path("/sys/fs/cgroup") / controllers / path.lstrip("/")
                settings = [wanted[controllers]]
            else:
                continue
            settings = [(f, v) for f, v in settings if v is not None]
            if (not settings or not (base / "cgroup.procs").is_file()
                    or not os.access(base, os.W_OK)):
                continue
            folder = base / name
            try:
                folder.mkdir()
                for file, value in settings:
                    if not (folder / file).is_file():   # controller not enabled for this group
                        raise OSError(f"{folder / file} missing")
                    (folder / file).write_text(str(int(value)))
            except OSError:
                _rmdir(folder)
                continue
            self.paths.append(folder)

    @property
    def controllers(self):
        return [p.parent.name if p.parent.parent == Path("/sys/fs/cgroup") else "v2"
                for p in self.paths]

    def has(self, what):
        for path in self.paths:
            if (path / f"{what}.max").exists() or (path / f"{what}.limit_in_bytes").exists():
                return True
        return False

    def procs_files(self):
        return [str(path / "cgroup.procs") for path in self.paths]

    def remove(self):
        for path in self.paths:
            for _ in range(50):
                try:
                    pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.05)
            _rmdir(path)
        self.paths = []


def _rmdir(path):
    try:
        path.rmdir()
    except OSError:
        pass


def _kill_user_processes(uid):
    for _ in range(20):
        found = False
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except OSError:
                pass
        if not found:
            return
        time.sleep(0.05)


def _user_process_count():
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def _launcher_main(argv):
    """`python -m course_instructor.sandbox LIMITS PROCS_FILES -- CMD...`: limits, then exec."""
    import resource     # POSIX only: imported here so that --no-sandbox works on Windows
    split = argv.index("--")
    limits_spec, procs_files, command = argv[0], argv[1], argv[split + 1:]
    for file in filter(None, procs_files.split(",")):
        with open(file, "w") as handle:
            handle.write(str(os.getpid()))
    user = None
    for item in filter(None, limits_spec.split(",")):
        name, value = item.split("=")
        if name == "USER":
            user = [int(part) for part in value.split(":")]
            continue
        value = int(float(value))
        resource.setrlimit(getattr(resource, name), (value, value))
    if user is not None:
        uid, gid, work = user[0], user[1], os.environ.get("HOME", "/") + "/work"
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        os.chdir(work)
    os.execvp(command[0], command)


def _rlimit_spec(limits, cgroups, user=None):
    spec = [] if user is None else [f"USER={user[0]}:{user[1]}"]
    if limits.cpu_seconds is not None:
        spec.append(f"RLIMIT_CPU={int(limits.cpu_seconds + 0.999)}")
    if limits.memory_mb is not None:
        spec.append(f"RLIMIT_DATA={int(limits.memory_mb * 2**20)}")
    if limits.file_mb is not None:
        spec.append(f"RLIMIT_FSIZE={int(limits.file_mb * 2**20)}")
    spec.append("RLIMIT_CORE=0")
    if limits.processes is not None and not cgroups.has("pids"):
        if user is not None:        # counted over that user's processes: only the kernel's
            spec.append(f"RLIMIT_NPROC={int(limits.processes)}")
        elif os.getuid() != 0:
            spec.append(f"RLIMIT_NPROC={_user_process_count() + int(limits.processes)}")
    return ",".join(spec)


# ---------------------------------------------------------------------------- kernels

class PlainKernel(KernelSession):
    """A kernel without isolation, in a fresh temporary HOME (caches, IPython profile) and folder."""

    def __init__(self, kernel_name="python3", env=None, startup_timeout=120):
        super().__init__(kernel_name=kernel_name, env=env, startup_timeout=startup_timeout)
        self.base_env = dict(self.env)
        self.folder = None

    def start(self):
        self.folder = tempfile.mkdtemp(prefix="course-lib-grade-")
        home = os.path.join(self.folder, "home")
        dirs = _sandbox_dirs(home)
        for path in dirs.values():
            os.makedirs(path, exist_ok=True)
        self.env = dict(self.base_env)
        for name in _ENV_NOT_PASSED:
            self.env.pop(name, None)
        self.env.update({k: v for k, v in dirs.items() if k != "WORK"})
        self.cwd = dirs["WORK"]
        return super().start()

    def stop(self):
        super().stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class SandboxKernel(KernelSession):
    """A kernel in its own bubblewrap sandbox, created on `start()` and destroyed on `stop()`.

    With `user=(uid, gid)` and no `bwrap`: the kernel runs as that unprivileged user instead
    (fresh HOME owned by it, same limits, no namespaces), and on `stop()` every process of
    that user is killed.
    """

    def __init__(self, bwrap, mounts, limits, kernel_name="python3", env=None, startup_timeout=120,
                 user=None):
        super().__init__(kernel_name=kernel_name, env=env, startup_timeout=startup_timeout)
        self.bwrap, self.mounts, self.limits, self.user = bwrap, mounts, limits, user
        self.base_env = dict(self.env)
        self.run_dir = None
        self.cgroups = None
        self.deadline = None
        self._killer = None

    def start(self):
        from nbclient import NotebookClient
        import nbformat
        self.run_dir = Path(tempfile.mkdtemp(prefix="course-lib-kernel-"))
        os.chmod(self.run_dir, 0o700)
        self.cgroups = _Cgroups(self.limits)
        wrapper = [sys.executable, "-m", "course_instructor.sandbox",
                   _rlimit_spec(self.limits, self.cgroups, self.user),
                   ",".join(self.cgroups.procs_files()), "--"]
        if self.user is None:
            wrapper += [self.bwrap] + _bwrap_args(self.mounts, self.run_dir, self.limits) + ["--"]
            env = sandbox_env(self.base_env)
        else:
            env = self._user_home()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
        client = NotebookClient(nb, kernel_name=self.kernel_name, timeout=60, allow_errors=False,
                                interrupt_on_timeout=False, record_timing=False,
                                startup_timeout=self.startup_timeout, shutdown_kernel="immediate",
                                coalesce_streams=True)
        km = client.create_kernel_manager()
        if self.user is None:       # no network in the sandbox: unix sockets
            km.transport = "ipc"
            km.ip = str(self.run_dir / "kernel")
        km.connection_file = str(self.run_dir / "kernel.json")
        km.cache_ports = False
        plain_format = km.format_kernel_cmd

        def format_kernel_cmd(extra_arguments=None):
            if self.user is not None:   # written by now; the kernel (that user) must read it
                os.chown(km.connection_file, *self.user)
            return wrapper + plain_format(extra_arguments)
        km.format_kernel_cmd = format_kernel_cmd
        client.km = km
        self.client = client
        self.deadline = (None if self.limits.wall_seconds is None
                         else time.monotonic() + self.limits.wall_seconds)
        if self.deadline is not None:
            self._killer = threading.Timer(self.limits.wall_seconds + 5, self._kill)
            self._killer.daemon = True
            self._killer.start()
        try:
            client.start_new_kernel(env=env, stdout=self._stderr(),
                                    stderr=self._stderr(),
                                    cwd=str(self.run_dir))
            client.start_new_kernel_client()
        except Exception:
            self.stop()
            raise
        if self.user is None:
            # The sockets exist now; the sandbox may not fill this host folder with files.
            os.chmod(self.run_dir, 0o500)
        return self

    def _user_home(self):
        """Fresh HOME, caches and working folder owned by the kernel's user; returns the env."""
        home = self.run_dir / "home"
        dirs = _sandbox_dirs(str(home))
        for path in [str(self.run_dir)] + sorted(dirs.values()):
            os.makedirs(path, exist_ok=True)
            os.chown(path, *self.user)
        os.chmod(self.run_dir, 0o711)
        return sandbox_env(self.base_env, home=str(home))

    def _stderr(self):
        # The kernel's own log lines (not the code's output, which comes over IOPub) are
        # noise; COURSE_LIB_SANDBOX_DEBUG=1 shows them (and bwrap's errors).
        return None if os.environ.get("COURSE_LIB_SANDBOX_DEBUG") else subprocess.DEVNULL

    def run(self, code, timeout):
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self._kill()
                return RunResult("timeout", "TimeoutError",
                                 f"the sandbox ran past its wall-clock limit "
                                 f"({self.limits.wall_seconds:g} s)")
            timeout = min(timeout, left)
        return super().run(code, timeout)

    def _kill(self):
        client = self.client
        process = getattr(getattr(getattr(client, "km", None), "provisioner", None), "process", None)
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass
        if self.cgroups is not None:
            for path in self.cgroups.paths:
                try:
                    for pid in (path / "cgroup.procs").read_text().split():
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        if self.user is not None:   # processes that left the group (setsid, double fork)
            _kill_user_processes(self.user[0])

    def stop(self):
        if self._killer is not None:
            self._killer.cancel()
            self._killer = None
        self._kill()
        super().stop()
        if self.cgroups is not None:
            self.cgroups.remove()
            self.cgroups = None
        if self.run_dir is not None:
            try:
                os.chmod(self.run_dir, 0o700)
            except OSError:
                pass
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None


if __name__ == "__main__":
    _launcher_main(sys.argv[1:])
