"""Seconds per submission with and without the grading sandbox, for one lab in fast mode.

    python bench/bench_grading.py [--lab labs/00_prepare_data.ipynb] [--repeats 3]

Grades the same submission (the lab's own solutions) `repeats` times in a bubblewrap
sandbox and `repeats` times without, interleaved (S, P, S, P, ...) so that load from
other jobs on a shared machine falls on both alike. Writes bench/results_grading.md.
"""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def grade_once(lab, folder, sandboxed):
    from course_instructor.grade import grade_submissions
    started = time.perf_counter()
    results = grade_submissions(lab, folder, out=None, sandbox=sandboxed)
    seconds = time.perf_counter() - started
    result = results[0]
    return seconds, f"{result.score:g}/{result.max_score:g} ({result.status})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lab", default=str(REPO / "labs" / "00_prepare_data.ipynb"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "bench" / "results_grading.md"))
    args = parser.parse_args(argv)
    os.environ["COURSE_LIB_FAST"] = "1"
    os.environ["COURSE_LIB_OFFLINE"] = "1"
    lab = Path(args.lab)
    times = {True: [], False: []}
    scores = {True: set(), False: set()}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(lab, Path(folder) / "solutions.ipynb")    # the lab's own answers
        warmup = {}
        for sandboxed in (False, True):      # warm-up, not counted: the first grading in a
            warmup[sandboxed] = grade_once(lab, folder, sandboxed)[0]   # process is slower
            print(f"warm-up {'sandbox' if sandboxed else 'no sandbox'}: "
                  f"{warmup[sandboxed]:.1f} s", flush=True)
        for repeat in range(args.repeats):
            for sandboxed in (True, False):
                seconds, score = grade_once(lab, folder, sandboxed)
                times[sandboxed].append(seconds)
                scores[sandboxed].add(score)
                print(f"repeat {repeat + 1} {'sandbox' if sandboxed else 'no sandbox'}: "
                      f"{seconds:.1f} s, {score}", flush=True)
    load_after = os.getloadavg()[0]
    median = {k: statistics.median(v) for k, v in times.items()}
    ratios = [s / p for s, p in zip(times[True], times[False])]
    cpu = f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}"
    lines = [
        "## Grading: seconds per submission, with and without the sandbox",
        "",
        f"Command: `python bench/bench_grading.py --lab {lab.relative_to(REPO) if lab.is_absolute() else lab} "
        f"--repeats {args.repeats}` (fast mode: COURSE_LIB_FAST=1)",
        f"Machine: {cpu}, Linux {platform.release()}, Python {platform.python_version()}; "
        f"shared with other jobs (load average {load_before:.0f} at the start, {load_after:.0f} at "
        f"the end), so the two variants were interleaved and the ratio per pair is the number "
        f"to read.",
        f"Date: {datetime.date.today().isoformat()}",
        "",
        "One submission (the lab's own solutions) graded by `grade_submissions`: the reference "
        "run of the instructor source (a plain kernel, both variants), the student run "
        "(bubblewrap sandbox or plain kernel) and the judging. Wall-clock seconds, after one "
        f"uncounted warm-up grading of each variant (no sandbox first: {warmup[False]:.1f} s, "
        f"then sandbox: {warmup[True]:.1f} s).",
        "",
        "| variant | runs (s) | median (s) | score |",
        "|---|---|---|---|",
        f"| sandbox (bubblewrap) | {', '.join(f'{t:.1f}' for t in times[True])} | "
        f"{median[True]:.1f} | {', '.join(sorted(scores[True]))} |",
        f"| no sandbox (`--no-sandbox`) | {', '.join(f'{t:.1f}' for t in times[False])} | "
        f"{median[False]:.1f} | {', '.join(sorted(scores[False]))} |",
        "",
        f"Ratio sandbox / no sandbox, per interleaved pair: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
