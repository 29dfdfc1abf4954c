"""The labs as students run them on Colab, online, with only the network faked.

Each lab with an online path is executed top to bottom (or, when it tags its online cells
"online", its setup cell and those cells only: see `online_cells`) in fast mode with
`COURSE_LIB_OFFLINE=0`, Colab's marker (`COLAB_RELEASE_TAG`) and the fake network of
tests/fake_network (tfds examples generated from the real builders' feature specs,
random weights of the right architecture for Keras applications and KerasHub presets).
Everything else (course_lib, Keras, KerasHub, tensorflow_datasets) is the real code.
The test also checks that each lab's online section really ran: the downloads it
should make are in the fake network's log.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ONLINE_TAG = "online"
FAKE_NETWORK = ROOT / "tests" / "fake_network"

# lab -> downloads its online section must make (starts of lines of the fake network's log)
ONLINE_LABS = {
    "00_prepare_data": ["tfds tf_flowers"],
    "03_fine_tuning": ["tfds tf_flowers", "keras mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_"],
    "04_detection": ["kaggle keras/retinanet/keras/retinanet_resnet50_fpn_coco"],
    "05_segmentation": ["tfds oxford_iiit_pet"],
}
# Fake examples per tfds split where a lab needs more than the default 100 (e.g. lab 03 takes
# 45 images per flower class in fast mode: 5 classes drawn at random need about 300).
TFDS_EXAMPLES = {"03_fine_tuning": 300}


def online_cells(cells):
    """The cells to run: all of them, or, when a lab tags its online cells (cell metadata
    `"tags": ["online"]`, each runnable right after the setup cell), the setup cell and those.
    Tagging keeps CI short for a long lab: its offline path already runs under nbval."""
    if not any(ONLINE_TAG in cell.get("metadata", {}).get("tags", []) for cell in cells):
        return cells
    return [cell for cell in cells
            if ONLINE_TAG in cell.get("metadata", {}).get("tags", [])
            or cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup"]


def _describe_failure(nb, error):
    """Which cell failed, its first lines, and the error (not the whole traceback)."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                source = "\n".join(cell.source.splitlines()[:6])
                return (f"cell {index} raised {output['ename']}: {output['evalue'][:1500]}\n"
                        f"--- cell source (first lines) ---\n{source}")
    return str(error)[-3000:]


def run_online(notebook, tmp_path, monkeypatch, replace=None, tfds_examples=100):
    """Executes `notebook` online against the fake network; returns (nb, download log lines).

    `replace`: {old line: new line} applied to the cells first (a student's edit).
    """
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    log = tmp_path / "downloads.log"
    env = {
        "COURSE_LIB_FAST": "1",
        "COURSE_LIB_OFFLINE": "0",
        "COURSE_LIB_FAKE_NETWORK": "1",
        "COURSE_LIB_FAKE_NETWORK_LOG": str(log),
        "COLAB_RELEASE_TAG": "fake-network-test",  # runtime.in_colab(): the Colab path
        "PYTHONPATH": os.pathsep.join([str(FAKE_NETWORK)] + [p for p in os.environ.get(
            "PYTHONPATH", "").split(os.pathsep) if p]),
        "COURSE_LIB_CACHE": str(tmp_path / "cache"),
        "TFDS_DATA_DIR": str(tmp_path / "tfds"),
        "KERAS_HOME": str(tmp_path / "keras"),
        "KAGGLEHUB_CACHE": str(tmp_path / "kagglehub"),
        "MPLBACKEND": "Agg",
        "COURSE_LIB_FAKE_TFDS_EXAMPLES": str(tfds_examples),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = online_cells(nb.cells)
    for old, new in (replace or {}).items():
        edited = [cell for cell in nb.cells if old in cell.source]
        assert edited, f"{notebook.name} has no line {old!r} to edit"
        for cell in edited:
            cell.source = cell.source.replace(old, new)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{notebook.name} online (fake network): {_describe_failure(nb, error)}",
                    pytrace=False)
    downloads = log.read_text().splitlines() if log.exists() else []
    return nb, downloads


def _outputs(nb):
    text = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", "") or str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


@pytest.mark.parametrize("lab", sorted(set(ONLINE_LABS) - {"00_prepare_data"}))
def test_lab_runs_online_with_the_network_faked(lab, tmp_path, monkeypatch):
    notebook = ROOT / "labs" / f"{lab}.ipynb"
    if not notebook.exists():
        pytest.skip(f"{notebook} is not in this checkout")
    nb, downloads = run_online(notebook, tmp_path, monkeypatch,
                               tfds_examples=TFDS_EXAMPLES.get(lab, 100))
    missing = [d for d in ONLINE_LABS[lab] if not any(line.startswith(d) for line in downloads)]
    assert not missing, (f"{lab}'s online section never downloaded {missing} "
                         f"(downloads made: {sorted(set(downloads))}); did it take the offline path?")
    output = _outputs(nb)
    assert "Offline: skipped" not in output, f"{lab} skipped an online cell although online"


def test_lab00_with_the_pet_dataset_uses_its_class_names(tmp_path, monkeypatch):
    # A student switches SOURCE: CLASSES must follow the dataset (no "Unknown class 'Trouser'").
    notebook = ROOT / "labs" / "00_prepare_data.ipynb"
    source = 'SOURCE = "fashion_mnist" if runtime.is_offline() else "tf_flowers"'
    nb, downloads = run_online(notebook, tmp_path, monkeypatch,
                               replace={source: 'SOURCE = "oxford_iiit_pet"'}, tfds_examples=600)
    assert "tfds oxford_iiit_pet" in downloads
    output = _outputs(nb)
    assert "oxford_iiit_pet has 37 classes: ['Abyssinian'" in output
    assert "Found " in output and "'Abyssinian'" in output
    # (600 fake examples: the 37 breeds get enough images each for the 0.2 validation split.)


def test_lab00_run_again_reuses_its_folder(tmp_path, monkeypatch):
    # Colab's "Restart session" (or MOUNT_DRIVE = True): the notebook runs again on the same
    # folders; the export is reused, nothing is downloaded again, no FileExistsError.
    notebook = ROOT / "labs" / "00_prepare_data.ipynb"
    nb, downloads = run_online(notebook, tmp_path, monkeypatch)
    assert "tfds tf_flowers" in downloads and "Offline: skipped" not in _outputs(nb)
    (tmp_path / "downloads.log").unlink()
    nb, downloads = run_online(notebook, tmp_path, monkeypatch)
    assert downloads == [] and "Reusing the " in _outputs(nb)


def test_tagged_online_cells_run_alone_after_the_setup_cell():
    nbformat = pytest.importorskip("nbformat")
    setup = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "setup"}})
    offline = nbformat.v4.new_code_cell("train()")
    online = nbformat.v4.new_code_cell("download()", metadata={"tags": ["online"]})
    assert online_cells([setup, offline, online]) == [setup, online]
    assert online_cells([setup, offline]) == [setup, offline]
