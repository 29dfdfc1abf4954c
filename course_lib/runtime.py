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

    Warnings that matter to a student (errors, deprecations in their own code)
    still show; oneDNN banners, CUDA probing messages and retracing chatter go.

    Args:
        import_tensorflow: True imports TensorFlow now (quietly) and quiets its
            Python loggers; False only sets the environment variables that
            TensorFlow reads when it is imported later (what `import course_lib`
            does, so that importing it costs no TensorFlow import).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    # Keras 3 warns on every fit() with a tf.data dataset that `shuffle` is ignored.
    warnings.filterwarnings("ignore", message=".*shuffle=True. was passed")
    if import_tensorflow and "tensorflow" not in sys.modules and _tf_importable():
        # oneDNN stays on (it doubles CPU training speed); its banner is printed by
        # C++ before any log level applies, so import TensorFlow with fd 2 muted.
        with _stderr_fd_muted():
            import tensorflow  # noqa: F401
    if "tensorflow" in sys.modules:
        import logging
        import tensorflow as tf
        tf.get_logger().setLevel(logging.ERROR)
        try:
            import absl.logging
            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:  # pragma: no cover - absl ships with TF
            pass


@contextlib.contextmanager
def _stderr_fd_muted():
    """Sends the process's file descriptor 2 to /dev/null for the duration."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, AttributeError, ValueError):  # no usable fd 2: nothing to mute
        yield
        return
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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


def setup_notebook(seed=1337, verbose=True):
    """One call for a lab's setup cell: quiet logs, seeds, plots inline, mode line.

    Prints one line such as
    `course_lib 0.1.0 | fast mode (COURSE_LIB_FAST=1) | seed 1337 | TensorFlow 2.21.0 on CPU`.

    Returns:
        The seed.
    """
    quiet_tensorflow()
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


def report_numbers(measured, expected=None):
    """Prints the numbers this run measured beside the ones the lab's text quotes.

    The quoted numbers ("Numbers to expect") come from a full-mode run; in fast
    mode the measured ones differ, and the table says so. When the environment
    variable `COURSE_LIB_REPORT` names a file (`bench/run_full.py` sets it), one
    JSON line per number is appended to it. The first entry is the lab's headline.

    Args:
        measured: dict, name -> number measured by this run.
        expected: dict, name -> number quoted in the text (a subset of the names).

    Returns:
        The rows printed, as a list of (name, measured, expected or None).

    Example:

    >>> report_numbers({"test accuracy": 0.93}, expected={"test accuracy": 0.934})  # doctest: +SKIP
    """
    import json
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
    rows = [(name, float(value), None if expected.get(name) is None else float(expected[name]))
            for name, value in measured.items()]
    width = max([len(name) for name, _, _ in rows] + [6])
    print(f"{'number':<{width}}  {'this run':>10}  {'text (full mode)':>16}")
    for name, value, quoted in rows:
        quoted_text = "" if quoted is None else f"{quoted:.4g}"
        print(f"{name:<{width}}  {value:>10.4g}  {quoted_text:>16}")
    if mode == "fast":
        print("Fast mode (COURSE_LIB_FAST=1): fewer samples and epochs, so these differ from the text.")
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as report:
            for name, value, quoted in rows:
                report.write(json.dumps({"name": name, "measured": value, "expected": quoted,
                                         "mode": mode}) + "\n")
    return rows
