"""The environment doctor: is this machine ready for the labs, and what will a lab cost here?

    from course_lib import doctor
    print(doctor.check())                    # every finding, one per line
    print(doctor.check(lab="05_segmentation"))   # and that lab's cost, measured on this machine

Every lab's setup cell runs it through `runtime.setup_notebook(lab=...)`, which prints one
line when all is well and each problem with its remedy otherwise; instructors run
`course-lib doctor [--lab NN]`. Importing this module imports no TensorFlow; `check()` imports
it (quietly) only to ask which devices it sees, after checking that it is installed.
"""

import dataclasses
import importlib.metadata
import importlib.util
import math
import os
import shutil
import sys
import time
from pathlib import Path

from course_lib import runtime

# The Pythons .ci/run tests on: the README's local one and Colab's.
TESTED_PYTHONS = ("3.11", "3.13")
# The libraries whose versions matter, as requirements.txt names them.
LIBRARIES = {"tensorflow": "TensorFlow", "keras": "Keras", "keras-hub": "KerasHub",
             "tensorflow-datasets": "TensorFlow Datasets", "numpy": "NumPy"}
CHANGE_RUNTIME = "Runtime > Change runtime type > T4 GPU"
RESTART = "Runtime > Restart session"
GB = 1024 ** 3


@dataclasses.dataclass
class Finding:
    """One line of the report: `level` is "ok", "note" or "problem"; `remedy` says what to do."""
    level: str
    topic: str
    text: str
    remedy: str = ""

    def __str__(self):
        mark = {"ok": "  ok", "note": "note", "problem": "FIX "}[self.level]
        return f"{mark} {self.topic}: {self.text}" + (f"\n       -> {self.remedy}" if self.remedy else "")


@dataclasses.dataclass
class Report:
    """What `check()` found; `str(report)` is the full report, `summary()` the setup cell's text."""
    findings: list
    facts: dict

    @property
    def problems(self):
        return [f for f in self.findings if f.level == "problem"]

    def summary(self):
        """One line when there is no problem; otherwise a header and each problem with its remedy."""
        facts = self.facts
        head = [f"Python {facts['python']}"]
        if facts.get("tensorflow"):
            head.append(f"TensorFlow {facts['tensorflow']} on {facts['device']}")
        head.append(f"{facts['ram_gb']:.1f} GB RAM, {facts['free_disk_gb']:.0f} GB free disk")
        line = "doctor: " + ("all well" if not self.problems else f"{len(self.problems)} problem(s)")
        line += f" ({', '.join(head)})"
        if facts.get("lab_line"):
            line += f" | {facts['lab_line']}"
        lines = [line] + [str(p) for p in self.problems]
        if self.problems:
            lines.append("       (full report: from course_lib import doctor; print(doctor.check()))")
        return "\n".join(lines)

    def __str__(self):
        return "\n".join(str(f) for f in self.findings)


# --------------------------------------------------------------------------- versions

def tested_versions():
    """The versions the labs were tested with: requirements.txt's `name==version` pins.

    Read from the checkout's requirements.txt, or from the copy installed with the package
    (`<prefix>/share/course_lib/requirements.txt`, e.g. on Colab). {} when neither exists.
    """
    for path in (Path(__file__).resolve().parent.parent / "requirements.txt",
                 Path(sys.prefix) / "share" / "course_lib" / "requirements.txt"):
        if path.is_file():
            pins = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.split("#")[0].strip()
                if "==" in line:
                    name, version = line.split("==", 1)
                    pins[name.strip().lower()] = version.strip()
            return pins
    return {}


def _installed(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _check_versions(findings, facts, colab):
    python = ".".join(map(str, sys.version_info[:3]))
    facts["python"] = python
    tested = " and ".join(TESTED_PYTHONS)
    if ".".join(python.split(".")[:2]) in TESTED_PYTHONS:
        findings.append(Finding("ok", "Python", f"{python} (CI tests {tested})"))
    else:
        findings.append(Finding("note", "Python", f"{python}; CI tests {tested} only",
                                "the labs may work; if one fails, use Python 3.11 or 3.13"))
    pins = tested_versions()
    if not pins:
        findings.append(Finding("note", "versions", "requirements.txt not found: versions not compared"))
        return
    for name, title in LIBRARIES.items():
        installed, pinned = _installed(name), pins.get(name)
        if installed is None:
            optional = name in ("keras-hub", "tensorflow-datasets")
            findings.append(Finding(
                "note" if optional else "problem", title, f"not installed (tested with {pinned})",
                (f"only the online sections need it: pip install {name}=={pinned}" if optional
                 else "pip install -r requirements.txt" if not colab
                 else f"choose {CHANGE_RUNTIME}, then run the first cell again")))
        elif pinned is None or installed == pinned:
            findings.append(Finding("ok", title, installed + ("" if pinned is None else " (tested)")))
        else:
            if colab and name == "tensorflow":
                remedy = ("Colab's TensorFlow is built for its GPU: do not reinstall it; if a cell "
                          "fails, tell your instructor which versions this report shows")
            elif colab:
                remedy = (f"if a cell fails: run `!pip install {name}=={pinned}` in a new cell, "
                          f"then {RESTART} and run the notebook from the top")
            else:
                remedy = "pip install -r requirements.txt"
            findings.append(Finding("problem", title, f"{installed}, but the labs were tested "
                                                      f"with {pinned}", remedy))
    facts["tensorflow"] = _installed("tensorflow")


def _check_legacy_keras(findings, colab):
    value = os.environ.get("TF_USE_LEGACY_KERAS", "")
    if value.strip().lower() in ("1", "true", "yes"):
        where = (f"delete the line that sets it (os.environ or %env), choose {RESTART}, and run "
                 f"the notebook from the top" if colab else
                 "unset TF_USE_LEGACY_KERAS, then restart the kernel")
        findings.append(Finding("problem", "Keras", f"TF_USE_LEGACY_KERAS={value}: tf.keras is then "
                                "Keras 2 (tf_keras), and the labs need Keras 3", where))
    elif importlib.util.find_spec("tf_keras") is not None:
        findings.append(Finding("note", "Keras", "tf_keras (Keras 2) is installed; harmless "
                                "while TF_USE_LEGACY_KERAS stays unset"))


# --------------------------------------------------------------------------- machine

def _nvidia_smi():
    """[(name, memory in GB)] from nvidia-smi, or [] when there is none."""
    import subprocess
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        name, _, memory = line.rpartition(",")
        try:
            gpus.append((name.strip(), float(memory) / 1024))
        except ValueError:
            continue
    return gpus


def _check_runtime(findings, facts, colab):
    """Colab's runtime kind (GPU, CPU, TPU without TensorFlow), the GPU and Keras' backend."""
    if importlib.util.find_spec("tensorflow") is None:
        facts["device"] = "no TensorFlow"
        if colab:
            findings.append(Finding("problem", "runtime", "this Colab runtime has no TensorFlow "
                                    "(Colab's TPU runtimes ship without it)",
                                    f"choose {CHANGE_RUNTIME}, then run the first cell again"))
        else:
            findings.append(Finding("problem", "runtime", "TensorFlow is not installed",
                                    "pip install -r requirements.txt (README, 'Two commands')"))
        return []
    runtime.quiet_tensorflow()
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    smi = _nvidia_smi()
    facts["device"] = f"{len(gpus)} GPU" if gpus else "CPU"
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "a GPU")
        memory = f", {smi[0][1]:.0f} GB" if smi else ""
        facts["device"] = name
        findings.append(Finding("ok", "GPU", f"{len(gpus)} x {name}{memory}"))
    elif smi:
        findings.append(Finding("problem", "GPU", f"{smi[0][0]} is present, but TensorFlow sees no "
                                "GPU (the CUDA errors printed when TensorFlow started say why)",
                                "Runtime > Disconnect and delete runtime, then run the notebook again"
                                if colab else "pip install 'tensorflow[and-cuda]' at the pinned version"))
    elif colab:
        findings.append(Finding("problem", "GPU", "none: this is a CPU runtime; training runs "
                                "many times slower", f"choose {CHANGE_RUNTIME}, then run the "
                                "notebook from the top"))
    else:
        findings.append(Finding("note", "GPU", "none: training runs on the CPU (fast mode, or "
                                "Colab's GPU for full mode)"))
    import keras
    backend = keras.config.backend()
    if backend != "tensorflow":
        findings.append(Finding("problem", "Keras", f"backend {backend!r}; the labs need 'tensorflow'",
                                f"set KERAS_BACKEND=tensorflow before importing keras, then "
                                f"{RESTART if colab else 'restart the kernel'}"))
    else:
        findings.append(Finding("ok", "Keras backend", backend))
    return gpus


def _memory_gb():
    """(total, available) RAM in GB, from /proc/meminfo (Linux) or sysconf."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        kb = {key: float(value.split()[0]) for key, value in info.items()}
        return kb["MemTotal"] / 1024 ** 2, kb.get("MemAvailable", kb["MemTotal"]) / 1024 ** 2
    except (OSError, KeyError, ValueError):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
        return total, total


# --------------------------------------------------------------------------- caches and downloads

def cache_folders():
    """{variable: folder} of the four caches the labs download into (Keras, tfds, KerasHub, ours)."""
    home = Path.home()
    return {
        "COURSE_LIB_CACHE": runtime.cache_dir(create=False),
        "TFDS_DATA_DIR": Path(os.environ.get("TFDS_DATA_DIR", home / "tensorflow_datasets")),
        "KERAS_HOME": Path(os.environ.get("KERAS_HOME", home / ".keras")),
        "KAGGLEHUB_CACHE": Path(os.environ.get("KAGGLEHUB_CACHE", home / ".cache" / "kagglehub")),
    }


@dataclasses.dataclass
class Download:
    name: str
    labs: tuple      # lab numbers ("03",) that download it in their online or full-mode path
    cache: str       # the variable of `cache_folders()` it lands under
    pattern: str     # glob under that folder: present when it matches
    size_mb: float   # download size (tfds' catalog, the Keras file, the Kaggle preset)


DOWNLOADS = [
    Download("tf_flowers (TFDS)", ("00", "03"), "TFDS_DATA_DIR", "tf_flowers/*/dataset_info.json", 218),
    Download("oxford_iiit_pet (TFDS)", ("05",), "TFDS_DATA_DIR", "oxford_iiit_pet/*/dataset_info.json", 774),
    Download("ucf101 (TFDS, opt-in: COURSE_LIB_UCF101=1)", ("08",), "TFDS_DATA_DIR",
             "ucf101/*/*/dataset_info.json", 6640),
    Download("Fashion-MNIST, all 70,000 images", ("01", "02", "06"), "KERAS_HOME",
             "datasets/fashion-mnist/train-images-idx3-ubyte.gz", 30),
    Download("MobileNetV2 ImageNet weights", ("03",), "KERAS_HOME",
             "models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5", 9),
    Download("RetinaNet preset retinanet_resnet50_fpn_coco", ("04",), "KAGGLEHUB_CACHE",
             "models/keras/retinanet/keras/retinanet_resnet50_fpn_coco/*", 130),
]


def _check_caches(findings, facts, colab, lab):
    folders = cache_folders()
    root = folders["COURSE_LIB_CACHE"]
    drive = Path("/content/drive/MyDrive")
    on_drive = str(root).startswith("/content/drive")
    text = f"{root}" + (" (on Google Drive)" if on_drive else "")
    if colab and not drive.is_dir():
        findings.append(Finding("note", "cache", text + "; Drive not mounted: downloads are lost "
                                "when the runtime is recycled", "set MOUNT_DRIVE = True in the "
                                "first cell and run it again to keep them on your Drive"))
    else:
        findings.append(Finding("ok", "cache", text + (", Drive mounted" if drive.is_dir() else "")))
    wanted = [d for d in DOWNLOADS if lab is None or lab[:2] in d.labs]
    missing_mb = 0.0
    for item in wanted:
        present = any(folders[item.cache].glob(item.pattern))
        if not present:
            missing_mb += item.size_mb
        where = folders[item.cache]
        findings.append(Finding("ok" if present else "note", "download",
                                f"{item.name}: " + (f"present in {where}" if present else
                                                    f"would download {item.size_mb:,.0f} MB into {where}")
                                + f" (labs {', '.join(item.labs)})"))
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / GB
    facts["free_disk_gb"] = free
    need = 2 * missing_mb / 1024 + 1   # tfds keeps the download and the prepared records
    if free < need:
        remedy = ("Runtime > Disconnect and delete runtime gives a fresh disk; or set MOUNT_DRIVE = "
                  "True in the first cell to download into your Drive" if colab else
                  f"free some space, or set COURSE_LIB_CACHE, TFDS_DATA_DIR and KERAS_HOME to a "
                  f"disk with room")
        findings.append(Finding("problem", "disk", f"{free:.1f} GB free in {probe}; "
                                f"{'this lab' if lab else 'the labs'} need about {need:.1f} GB "
                                f"({missing_mb:,.0f} MB of downloads, prepared once)", remedy))
    else:
        findings.append(Finding("ok", "disk", f"{free:.0f} GB free in {probe}"))


# --------------------------------------------------------------------------- one lab's cost

@dataclasses.dataclass
class LabCost:
    """The lab's main training in full mode: its model, batch size, training set and epochs."""
    what: str
    build: object      # () -> an uncompiled Keras model, at the lab's full-mode settings
    batch_size: int
    train_size: int
    epochs: int
    where: str         # the lab's cell or variable that sets the batch size


def _lab_costs():
    from course_lib.models import classic, detection, segmentation, video
    from course_lib.models.autoencoders import build_conv_autoencoder

    def lstm_rows():
        import keras
        return keras.Sequential([keras.Input((28, 28)), keras.layers.LSTM(128),
                                 keras.layers.Dense(10, activation="softmax")])

    return {
        "02": LabCost("toy CNN", lambda: classic.build_toy_cnn(**classic.LAB_CNN),
                      classic.LAB_RECIPE["batch_size"], 54000, classic.LAB_RECIPE["epochs"],
                      "LAB_RECIPE['batch_size']"),
        "04": LabCost("one-stage detector", lambda: detection.build_tiny_detector((64, 64, 1), num_classes=5),
                      16, 3000, 20, "the detector's fit(batch_size=16)"),
        "05": LabCost("U-Net", lambda: segmentation.build_unet((64, 64, 1), num_classes=5),
                      16, 1080, 8, "BATCH_SIZE in the setup cell"),
        "06": LabCost("LSTM on Fashion-MNIST rows", lstm_rows, 128, 54000, 8,
                      "row_model.fit(batch_size=128)"),
        "07": LabCost("convolutional autoencoder", lambda: build_conv_autoencoder((28, 28, 1), 32),
                      64, 6000, 10, "BATCH_SIZE in the setup cell"),
        "08": LabCost("slow-fusion 3-D CNN", lambda: video.build_slow_fusion_model((8, 32, 32, 1)),
                      32, 2700, 6, "train_and_score(batch_size=32)"),
    }


def measure_lab(lab, steps=None):
    """Measures a few training steps of `lab`'s main model at its full-mode settings.

    Returns a dict (what, batch_size, step_seconds, epoch_seconds, total_minutes, peak_gb,
    capacity_gb, device), or None for a lab without Keras training (00, 01, 03). The peak is
    the GPU's peak allocation on a GPU, else the process's peak resident memory. Costs about a
    second plus `steps` steps; afterwards Keras' session is cleared (layer names start again).
    """
    spec = _lab_costs().get(str(lab)[:2])
    if spec is None:
        return None
    steps = steps or runtime.pick(full=5, fast=2)
    runtime.quiet_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    model = spec.build()
    # The step's cost is the model's: a mean squared error on zeros costs what any loss does.
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((spec.batch_size, *model.input_shape[1:]), dtype=np.float32)
    y = keras.tree.map_structure(lambda t: np.zeros((spec.batch_size, *t.shape[1:]), "float32"),
                                 model(x[:1]))
    model.train_on_batch(x, y)              # the first step traces the graph: not timed
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    step = (time.perf_counter() - start) / steps
    if gpus:
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / GB
        smi = _nvidia_smi()
        capacity = smi[0][1] if smi else float("nan")
    else:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2   # KB on Linux
        capacity = _memory_gb()[0]
    del model
    keras.backend.clear_session()
    epoch = step * math.ceil(spec.train_size / spec.batch_size)
    return {"lab": str(lab)[:2], "what": spec.what, "batch_size": spec.batch_size, "where": spec.where,
            "steps": steps, "step_seconds": step, "epoch_seconds": epoch, "epochs": spec.epochs,
            "total_minutes": epoch * spec.epochs / 60, "peak_gb": peak, "capacity_gb": capacity,
            "device": "GPU" if gpus else "CPU"}


def _check_lab(findings, facts, colab, lab, measure):
    if not measure or facts.get("device") in (None, "no TensorFlow"):
        return
    cost = measure_lab(lab)
    if cost is None:
        return
    memory = "GPU memory" if cost["device"] == "GPU" else "process memory"
    line = (f"lab {cost['lab']}: one full-mode epoch of the {cost['what']} about "
            f"{cost['epoch_seconds']:.0f} s here, all {cost['epochs']} epochs about "
            f"{cost['total_minutes']:.1f} min (measured on {cost['steps']} steps of "
            f"{cost['batch_size']}); peak {memory} {cost['peak_gb']:.1f} GB")
    facts["lab_line"] = line
    findings.append(Finding("ok", "lab", line))
    if cost["peak_gb"] > 0.8 * cost["capacity_gb"]:
        findings.append(Finding("problem", "memory", f"peak {memory} {cost['peak_gb']:.1f} GB of "
                                f"{cost['capacity_gb']:.1f} GB", f"lower batch_size to "
                                f"{max(cost['batch_size'] // 2, 1)} ({cost['where']})"))
    if cost["device"] == "CPU" and cost["total_minutes"] > 10:
        findings.append(Finding("problem" if colab else "note", "time",
                                f"this lab's full mode takes about {cost['total_minutes']:.0f} "
                                f"minutes here for the {cost['what']} alone",
                                f"switch to a GPU runtime ({CHANGE_RUNTIME})" if colab else
                                "open it on Colab with a GPU runtime, or run it in fast mode "
                                "(COURSE_LIB_FAST=1)"))


# --------------------------------------------------------------------------- the one call

def check(lab=None, measure=True):
    """Checks this machine against what the labs were tested on.

    Args:
        lab: the lab being opened ("05_segmentation" or "05"), or None for no lab.
        measure: measure a few training steps of the lab's main model (about a second or two
            on a CPU in fast mode; more for a big model), for its time and memory estimate.

    Returns:
        A `Report`: `print(report)` lists every finding, `report.summary()` is the setup
        cell's text, `report.problems` the findings that need a remedy.
    """
    colab = runtime.in_colab()
    findings, facts = [], {}
    _check_versions(findings, facts, colab)
    _check_legacy_keras(findings, colab)
    if colab:
        findings.append(Finding("ok", "Colab", "yes"))
    _check_runtime(findings, facts, colab)
    total, available = _memory_gb()
    facts["ram_gb"] = total
    findings.append(Finding("ok", "RAM", f"{total:.1f} GB, {available:.1f} GB available"))
    _check_caches(findings, facts, colab, lab)
    if lab is not None:
        _check_lab(findings, facts, colab, lab, measure)
    return Report(findings, facts)


__all__ = ["check", "measure_lab", "tested_versions", "cache_folders", "Finding", "Report",
           "DOWNLOADS", "TESTED_PYTHONS"]
