"""Runtime switches shared by every lab: fast mode, seeds, Colab, strategies, cache.

Nothing here imports TensorFlow at module level, so `course_lib.runtime` can be
imported (and `quiet_tensorflow()` called) before TensorFlow prints anything.

Typical notebook setup cell:

    from course_lib import runtime
    runtime.setup_notebook(seed=1337)      # quiet logs, seeds, prints the mode
    EPOCHS = runtime.pick(full=15, fast=1)
"""

import contextlib
import os
import random
import sys
import warnings
from pathlib import Path

FAST_ENV = "COURSE_LIB_FAST"
CACHE_ENV = "COURSE_LIB_CACHE"
OFFLINE_ENV = "COURSE_LIB_OFFLINE"


class DatasetUnavailableError(RuntimeError):
    """A download (dataset, weights, preset) or its preparation failed, or is impossible offline.

    Its message says what failed and what to do. A lab's online cell catches
    this one class and falls back to the offline data.
    """


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _env_flag(name):
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"Environment variable {name} should be 1/true/yes/on or 0/false/no/off. "
        f"Received: {name}={os.environ[name]!r}")


def is_fast_mode():
    """Returns True when `COURSE_LIB_FAST` is set to a true value (CI, quick checks).

    Fast mode keeps every cell of every notebook running, on fewer samples and
    epochs. Full mode (the default) is what students run and benchmarks measure.
    """
    return _env_flag(FAST_ENV)


def pick(full, fast):
    """Returns `fast` in fast mode and `full` otherwise.

    Example:

    >>> EPOCHS = pick(full=20, fast=1)
    """
    return fast if is_fast_mode() else full


def in_colab():
    """Returns True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def is_offline():
    """Returns True when downloads should not even be attempted.

    True when `COURSE_LIB_OFFLINE=1`, or when a quick check finds that no
    connection to the usual download hosts can be opened (one short attempt,
    cached for the session). Never hangs: the probe times out after 2 seconds.
    """
    if os.environ.get(OFFLINE_ENV) is not None:
        return _env_flag(OFFLINE_ENV)
    global _OFFLINE_CACHE
    if _OFFLINE_CACHE is None:
        _OFFLINE_CACHE = not _can_connect("storage.googleapis.com", 443, timeout=2.0)
    return _OFFLINE_CACHE


_OFFLINE_CACHE = None


def _can_connect(host, port, timeout):
    import socket
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def quiet_tensorflow(import_tensorflow=True):
    """Silences TensorFlow's C++ and Python log noise (call before importing TF).

    Errors still show: TensorFlow's own log level is set to errors only (its info lines, the
    oneDNN banner and the CUDA probing chatter, go), and while TensorFlow starts (its import and
    its first look for devices, where CUDA and driver problems are reported) the process's
    standard error is captured, and every line that is not known start-up noise is printed
    again (`KNOWN_NOISE`), to `sys.stderr`, which a notebook shows.

    Args:
        import_tensorflow: True imports TensorFlow now and quiets its Python loggers; False
            only sets the environment variables that TensorFlow reads when it is imported later
            (what `import course_lib` does, so that importing it costs no TensorFlow import).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # 2: errors and fatal errors only
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")
    # Keras 3 warns on every fit() with a tf.data dataset that `shuffle` is ignored.
    warnings.filterwarnings("ignore", message=".*shuffle=True. was passed")
    global _TF_STARTED
    if import_tensorflow and not _TF_STARTED and _tf_importable():
        _TF_STARTED = True
        with _stderr_filtered():
            import tensorflow as tf
            tf.config.list_physical_devices()   # CUDA reports its start-up problems here
    if "tensorflow" in sys.modules:
        import logging
        import tensorflow as tf
        tf.get_logger().setLevel(logging.ERROR)
        try:
            import absl.logging
            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:  # pragma: no cover - absl ships with TF
            pass


_TF_STARTED = False

# Lines TensorFlow prints while it starts that say nothing wrong (regular expressions). The
# CUDA ones are noise only where the machine has no NVIDIA device (`_NO_GPU_NOISE`).
KNOWN_NOISE = (
    r"oneDNN custom operations are on",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .*rebuild TensorFlow",
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
)
_NO_GPU_NOISE = (
    r"failed call to cuInit: .*(UNKNOWN ERROR \(303\)|CUDA_ERROR_NO_DEVICE)",
    r"Could not find cuda drivers on your machine, GPU will not be used",
)


def _is_noise(line):
    import re
    patterns = KNOWN_NOISE + (() if _has_nvidia_device() else _NO_GPU_NOISE)
    return not line.strip() or any(re.search(pattern, line) for pattern in patterns)


def _has_nvidia_device():
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()


@contextlib.contextmanager
def _stderr_filtered():
    """Captures the process's file descriptor 2, then prints again its lines that are not noise."""
    import tempfile
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):  # no usable fd 2: nothing to capture
        yield
        return
    with tempfile.TemporaryFile() as captured:
        try:
            os.dup2(captured.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                    if not _is_noise(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def set_seed(seed=1337):
    """Seeds Python, NumPy, TensorFlow and Keras so a run can be repeated.

    Keras layers initialised after this call get the same weights on every run.
    On GPU some kernels stay non-deterministic; pass the same seed anyway.

    Args:
        seed: int, the seed.

    Returns:
        The seed, so a notebook can print it.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed should be an int, e.g. seed=1337. Received: seed={seed!r}")
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    import numpy as np
    np.random.seed(seed)
    if "tensorflow" in sys.modules or "keras" in sys.modules or _tf_importable():
        import keras
        keras.utils.set_random_seed(seed)
    return seed


def _tf_importable():
    import importlib.util
    return importlib.util.find_spec("tensorflow") is not None


def cache_dir(*parts, create=True):
    """Returns the course's cache folder (outside git) or a sub-folder of it.

    Resolution order: `COURSE_LIB_CACHE`, then `~/.cache/course_lib` (on Colab:
    `/content/course_lib_cache`, which survives until the runtime is recycled).

    Example:

    >>> cache_dir("datasets", "flowers")
    PosixPath('/home/me/.cache/course_lib/datasets/flowers')
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        path = Path(root).expanduser()
    elif in_colab():
        path = Path("/content/course_lib_cache")
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "course_lib"
    path = path.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def get_strategy(verbose=True):
    """Returns the `tf.distribute` strategy for this machine's GPUs.

    Several GPUs -> `MirroredStrategy`; one GPU or CPU only -> the default
    strategy. Build and compile models inside `with strategy.scope():`; scale
    the batch size with `strategy.num_replicas_in_sync`. (TPUs are not
    supported: Colab's TPU runtimes ship without TensorFlow.)

    Returns:
        A `tf.distribute.Strategy`.
    """
    quiet_tensorflow()
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        strategy, kind = tf.distribute.MirroredStrategy(), f"{len(gpus)} GPUs"
    else:
        strategy, kind = tf.distribute.get_strategy(), ("1 GPU" if gpus else "CPU")
    if verbose:
        print(f"Strategy: {type(strategy).__name__} on {kind} "
              f"({strategy.num_replicas_in_sync} replica(s))")
    return strategy


def setup_notebook(seed=1337, verbose=True, lab=None, measure=None):
    """One call for a lab's setup cell: quiet logs, the doctor, seeds, plots inline, mode line.

    Prints a line such as
    `course_lib 0.1.0 | fast mode (COURSE_LIB_FAST=1) | seed 1337 | TensorFlow 2.21.0 on CPU`,
    then the environment doctor's (`course_lib.doctor`): one line when all is well, each problem
    with its remedy otherwise.

    Args:
        seed: int, the seed of Python, NumPy, TensorFlow and Keras.
        verbose: False prints nothing (and runs no doctor).
        lab: the lab being opened ("05_segmentation"): the doctor lists its downloads and
            estimates its full-mode training time and peak memory on this machine.
        measure: time a few training steps of the lab's main model for that estimate (a few
            seconds, before the seeds are set); None: in full mode only.

    Returns:
        The seed.
    """
    quiet_tensorflow()
    report = None
    if verbose:
        from course_lib import doctor
        report = doctor.check(lab=lab, measure=(not is_fast_mode()) if measure is None else measure)
    set_seed(seed)
    try:
        import matplotlib
        if not in_colab() and "ipykernel" not in sys.modules and os.environ.get("MPLBACKEND") is None:
            matplotlib.use("Agg")
    except ImportError:  # pragma: no cover
        pass
    if verbose:
        from course_lib import __version__
        mode = f"fast mode ({FAST_ENV}=1)" if is_fast_mode() else "full mode"
        parts = [f"course_lib {__version__}", mode, f"seed {seed}"]
        if "tensorflow" in sys.modules:
            import tensorflow as tf
            device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
            parts.append(f"TensorFlow {tf.__version__} on {device}")
        print(" | ".join(parts))
        print(report.summary())
    return seed


DATA_ENV = "COURSE_LIB_DATA"


def data_path(name=""):
    """Returns the path of a file the package ships in its `data/` folder.

    Looks in `COURSE_LIB_DATA` if set, then in the `data/` folder of the source
    checkout (editable installs, CI), then in the installed `course_lib_data`
    package (pip installs from a git URL, e.g. on Colab).

    Raises:
        FileNotFoundError: the file is in none of those places.
    """
    candidates = []
    if os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]).expanduser())
    candidates.append(Path(__file__).resolve().parent.parent / "data")
    try:
        import course_lib_data
        candidates.append(Path(course_lib_data.__file__).resolve().parent)
    except ImportError:
        pass
    for folder in candidates:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(
        f"The shipped data file {name!r} was not found. Looked in: "
        f"{', '.join(str(c) for c in candidates)}. Reinstall course_lib "
        f"(pip install -e . from a clone, or from the git URL), or set "
        f"{DATA_ENV} to the folder holding it.")


REPORT_ENV = "COURSE_LIB_REPORT"


class FloorError(AssertionError):
    """A lab's number fell below its floor (or above its ceiling): the message names the rows."""


def _limits(table, label, measured, this_mode=True):
    """Validates floors/ceilings: name -> number, or (other row's name, ratio) for a ratio limit.

    The limits of the other mode may name rows this mode does not measure (fast mode runs fewer).
    """
    import numbers
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise ValueError(f"{label} should be a dict of name -> number, e.g. {{'test accuracy': 0.85}}. "
                         f"Received: {label}={table!r}")
    for name, limit in table.items():
        ratio = (isinstance(limit, tuple) and len(limit) == 2 and isinstance(limit[0], str)
                 and isinstance(limit[1], numbers.Real) and not isinstance(limit[1], bool))
        plain = isinstance(limit, numbers.Real) and not isinstance(limit, bool)
        if not (plain or ratio):
            raise ValueError(f"{label}[{name!r}] should be a number, or (other row, ratio) such as "
                             f"('ms per image, R-CNN', 0.5). Received: {limit!r}")
        missing = [n for n in ([name] + ([limit[0]] if ratio else [])) if n not in measured]
        if missing and this_mode:
            raise ValueError(f"{label} names numbers that were not measured: {missing}. "
                             f"Measured: {sorted(measured)}")
    return table


def _limit_value(limit, measured):
    """The number a limit stands for: itself, or ratio x the other row's measured value."""
    if isinstance(limit, tuple):
        return float(limit[1]) * float(measured[limit[0]])
    return float(limit)


def _limit_text(limit, measured):
    if isinstance(limit, tuple):
        return f"{_limit_value(limit, measured):.4g} ({limit[1]:g} x {limit[0]})"
    return f"{float(limit):.4g}"


def report_numbers(measured, expected=None, floors=None, ceilings=None,
                   fast_floors=None, fast_ceilings=None):
    """Prints the numbers this run measured beside the ones the lab's text quotes, and checks floors.

    The quoted numbers ("Numbers to expect") come from a full-mode run; in fast
    mode the measured ones differ, and the table says so. When the environment
    variable `COURSE_LIB_REPORT` names a file (`bench/run_full.py` sets it), one
    JSON line per number is appended to it, with the floor or ceiling that applies
    in this mode and whether it held. The first entry is the lab's headline.

    Floors and ceilings are how a library upgrade that silently lowers a lab's
    accuracy is caught: `floors` / `ceilings` hold in full mode (set with a margin
    below / above the full-mode numbers; `bench/run_full.py --check` fails on
    them), `fast_floors` / `fast_ceilings` in fast mode (the cheap ones: above
    chance, the loss went down), where a violation raises `FloorError` so that
    the fast-mode lab run in CI fails. A full-mode violation prints a loud line per
    row and is recorded, but does not stop the notebook (a student's slower or
    different machine is not a broken library).

    Args:
        measured: dict, name -> number measured by this run.
        expected: dict, name -> number quoted in the text (a subset of the names).
        floors, fast_floors: dict, name -> lowest acceptable value (full / fast mode).
        ceilings, fast_ceilings: dict, name -> highest acceptable value, or
            `(other name, ratio)`: at most `ratio` times that row's measured value
            (for timings, which scale with the machine's load while their ratios do not).

    Returns:
        None (the table is printed; the rows go to `COURSE_LIB_REPORT`).

    Raises:
        FloorError: in fast mode, when a number is below its fast floor or above its fast ceiling.

    Example:

    >>> report_numbers({"test accuracy": 0.93}, expected={"test accuracy": 0.934},
    ...                floors={"test accuracy": 0.88}, fast_floors={"test accuracy": 0.2})  # doctest: +SKIP
    """
    import json
    import math
    import numbers
    expected = {} if expected is None else expected
    for label, table in (("measured", measured), ("expected", expected)):
        if not isinstance(table, dict) or not all(
                isinstance(k, str) and isinstance(v, numbers.Real) and not isinstance(v, bool)
                for k, v in table.items()):
            raise ValueError(f"{label} should be a dict of name -> number, e.g. "
                             f"{{'test accuracy': 0.93}}. Received: {label}={table!r}")
    unknown = sorted(set(expected) - set(measured))
    if unknown:
        raise ValueError(f"expected names numbers that were not measured: {unknown}. "
                         f"Measured: {sorted(measured)}")
    mode = "fast" if is_fast_mode() else "full"
    limits = {label: _limits(table, label, measured, label.startswith("fast") == (mode == "fast"))
              for label, table in (("floors", floors), ("ceilings", ceilings),
                                   ("fast_floors", fast_floors), ("fast_ceilings", fast_ceilings))}
    low = limits["fast_floors" if mode == "fast" else "floors"]
    high = limits["fast_ceilings" if mode == "fast" else "ceilings"]
    rows, failures = [], []
    for name, value in measured.items():
        value = float(value)
        row = {"name": name, "measured": value,
               "expected": None if expected.get(name) is None else float(expected[name]),
               "mode": mode}
        if name in low:
            row["floor"] = _limit_value(low[name], measured)
            if not value >= row["floor"]:  # NaN fails too
                failures.append(f"{name!r} is {value:.4g}, below its {mode}-mode floor "
                                f"{_limit_text(low[name], measured)}")
        if name in high:
            row["ceiling"] = _limit_value(high[name], measured)
            if not value <= row["ceiling"]:
                failures.append(f"{name!r} is {value:.4g}, above its {mode}-mode ceiling "
                                f"{_limit_text(high[name], measured)}")
        if "floor" in row or "ceiling" in row:
            row["ok"] = not (math.isnan(value) or value < row.get("floor", -math.inf)
                             or value > row.get("ceiling", math.inf))
        rows.append(row)
    width = max([len(row["name"]) for row in rows] + [6])
    print(f"{'number':<{width}}  {'this run':>10}  {'text (full mode)':>16}  {'limit (' + mode + ')':>18}")
    for row in rows:
        quoted_text = "" if row["expected"] is None else f"{row['expected']:.4g}"
        limit = " ".join(([f">= {row['floor']:.4g}"] if "floor" in row else [])
                         + ([f"<= {row['ceiling']:.4g}"] if "ceiling" in row else []))
        flag = "  FAILED" if row.get("ok") is False else ""
        print(f"{row['name']:<{width}}  {row['measured']:>10.4g}  {quoted_text:>16}  {limit:>18}{flag}")
    if mode == "fast":
        print("Fast mode (COURSE_LIB_FAST=1): fewer samples and epochs, so these differ from the text.")
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as report:
            for row in rows:
                report.write(json.dumps(row) + "\n")
    if failures:
        text = "; ".join(failures)
        if mode == "fast":
            raise FloorError(f"{len(failures)} number(s) outside their fast-mode limits: {text}. "
                             "Fast mode trains little, so these limits are only 'better than "
                             "chance' and 'the loss went down': a library or data change broke "
                             "training. Run the lab in full mode and compare with the text.")
        for failure in failures:
            print(f"OUTSIDE ITS LIMIT (full mode): {failure}. A library upgrade, a data change or "
                  f"a changed recipe lowered this number; bench/run_full.py --check fails on it.")
    return None
