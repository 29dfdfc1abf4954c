"""Assembles BENCHMARKS.md from the per-topic results in bench/results_*.md.

Each results file is written by hand from a run of its bench script (command, machine and
date inside). Run: python bench/make_benchmarks_md.py
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["full", "loader", "scratch", "cnn", "transfer", "detection", "segmentation", "rnn",
         "autoencoders", "video", "grading"]

HEADER = """# Benchmarks

Speed and accuracy targets are measured here, never in timed tests. Speed is reported as a ratio
against a reference run in the same process (e.g. `keras.utils.image_dataset_from_directory`, or the
same architecture in Keras), so that a busy machine slows both sides alike. Each section gives the
exact command, the machine and the date. Regenerate this file with `python bench/make_benchmarks_md.py`
after updating a `bench/results_<topic>.md`.
"""


def main():
    parts = [HEADER]
    files = {p.stem.removeprefix("results_"): p for p in (ROOT / "bench").glob("results_*.md")}
    for topic in ORDER + sorted(set(files) - set(ORDER)):
        if topic in files:
            parts.append(files[topic].read_text().strip() + "\n")
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print(f"Wrote BENCHMARKS.md from {len(files)} result files")


if __name__ == "__main__":
    main()
