"""Runs labs in full mode and records what they measured: one command for the full-mode table.

    python bench/run_full.py labs/00_prepare_data.ipynb [labs/02_toy_cnn.ipynb ...]

Each notebook is executed from top to bottom with nbclient in a fresh kernel, with
`COURSE_LIB_FAST=0` (full mode) and `COURSE_LIB_REPORT` naming a scratch file, so the lab's
closing `report_numbers(...)` cell appends its numbers there (the first one is the lab's
headline; `expected` is what the lab's "Numbers to expect" quotes). `COURSE_LIB_OFFLINE`
stays as set (default 1, the offline data CI runs; `--online` sets it to 0).

Writes, per lab, `bench/full/<lab>.json` (`<lab>.gpu.json` when a GPU is visible): lab, wall
seconds, the report rows, machine, date, command, and the error if a cell failed. Then
regenerates `bench/results_full.md` from every JSON file in `bench/full/` (a lab someone
else ran stays in the table), and `python bench/make_benchmarks_md.py` puts it in
BENCHMARKS.md. Each lab gets a fresh `COURSE_LIB_CACHE` (deleted afterwards), so no folder
left by an earlier fast-mode run is reused; `--keep-cache` keeps yours. The executed notebook is not kept (labs store no outputs).

    python bench/run_full.py --check labs/04_detection.ipynb    # run, then judge the floors
    python bench/run_full.py --check                            # judge the stored bench/full/*.json

`--check` exits non-zero, naming the lab and the row, when a lab failed, reported a number
below its full-mode floor or above its ceiling (the `floors=` / `ceilings=` of its
`report_numbers` cell, recorded with each row), or set no floor at all. This is how a library
upgrade that silently lowers a lab's accuracy is caught before a semester starts.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FULL_DIR = ROOT / "bench" / "full"
RESULTS = ROOT / "bench" / "results_full.md"


def describe_machine():
    """One line: CPU model and cores, GPU name if any, memory; with TF/Keras versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = gpu_name()
    parts = [f"{os.cpu_count()}-core CPU ({cpu})", f"GPU: {gpu}" if gpu else "no GPU"]
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        parts.append(f"{pages * size / 2 ** 30:.0f} GiB RAM")
    except (ValueError, OSError, AttributeError):
        pass
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)


def gpu_name():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in out.splitlines() if line.strip()]
    return f"{len(names)} x {names[0]}" if len(names) > 1 else (names[0] if names else None)


def library_versions():
    versions = {}
    for name in ("tensorflow", "keras", "keras_hub", "tensorflow_datasets", "numpy"):
        try:
            from importlib.metadata import version
            versions[name] = version(name.replace("_", "-"))
        except Exception:  # noqa: BLE001 - not installed: left out
            pass
    return versions


def run_lab(notebook, timeout, kernel_name, fresh_cache=True):
    """Executes `notebook` in full mode; returns the record written to bench/full/."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise SystemExit(f"No notebook at {notebook}. Pass a lab, e.g. labs/00_prepare_data.ipynb")
    report = Path(tempfile.mkstemp(prefix=f"report_{notebook.stem}_", suffix=".jsonl")[1])
    env = {"COURSE_LIB_FAST": "0", "COURSE_LIB_REPORT": str(report)}
    if fresh_cache:  # no folder or dataset left by an earlier (e.g. fast-mode) run is reused
        env["COURSE_LIB_CACHE"] = tempfile.mkdtemp(prefix=f"course_lib_full_{notebook.stem}_")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(notebook.parent)}})
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as failure:
        error = f"{failure.ename}: {failure.evalue}"
    except Exception as failure:  # noqa: BLE001 - a timeout or a dead kernel is recorded too
        error = f"{type(failure).__name__}: {failure}"
    wall = time.perf_counter() - start
    if fresh_cache:
        shutil.rmtree(env["COURSE_LIB_CACHE"], ignore_errors=True)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    rows = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    report.unlink()
    if error is None and not rows:
        error = "the notebook ran but reported no numbers (its report_numbers cell is missing)"
    return {
        "lab": notebook.stem,
        "wall_seconds": round(wall, 1),
        "rows": rows,
        "error": error,
        "offline": os.environ.get("COURSE_LIB_OFFLINE", ""),
        "machine": describe_machine(),
        "gpu": gpu_name(),
        "versions": library_versions(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run_full.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }


def _number(value):
    if value is None:
        return ""
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds:,.0f} s ({seconds / 60:.0f} min)"


def write_table(full_dir=FULL_DIR, results=RESULTS):
    """Regenerates results_full.md from every bench/full/*.json; returns its text."""
    records = [json.loads(p.read_text()) for p in sorted(Path(full_dir).glob("*.json"))]
    lines = ["## Every lab in full mode (bench/run_full.py)", "",
             "Each lab executed top to bottom in full mode (`COURSE_LIB_FAST=0`) by "
             "`python bench/run_full.py labs/NN_name.ipynb`; the numbers are those the lab's "
             "`report_numbers` cell printed (headline first), beside what its \"Numbers to expect\" "
             "quotes. Machine, date and versions per run are in `bench/full/<lab>.json`. Wall time "
             "includes data preparation and every demo, on a machine shared with other jobs.", ""]
    machines = sorted({r["machine"] for r in records})
    for machine in machines:
        lines += [f"Machine: {machine}.", "",
                  "| lab | wall time | headline metric | measured | expected (text) | other numbers | date |",
                  "|---|---|---|---|---|---|---|"]
        for record in (r for r in records if r["machine"] == machine):
            rows = record["rows"]
            if record.get("error"):
                headline = f"failed: {record['error'][:120]}"
                measured = expected = ""
            elif rows:
                headline = rows[0]["name"]
                measured, expected = _number(rows[0]["measured"]), _number(rows[0]["expected"])
            else:
                headline = measured = expected = ""
            others = "; ".join(f"{r['name']} {_number(r['measured'])}"
                               + (f" (text {_number(r['expected'])})" if r["expected"] is not None
                                  else "") for r in rows[1:])
            lines.append(f"| {record['lab']} | {_duration(record['wall_seconds'])} | {headline} | "
                         f"{measured} | {expected} | {others} | {record['date'][:10]} |")
        lines.append("")
    if not records:
        lines.append("No lab has been run yet.")
    text = "\n".join(lines).rstrip() + "\n"
    Path(results).write_text(text)
    return text


def check_record(record):
    """What `--check` objects to in one lab's record: a list of lines naming the rows (empty: ok)."""
    lab = record.get("lab", "?")
    if record.get("error"):
        return [f"{lab}: the run failed ({record['error'][:200]})"]
    rows = record.get("rows", [])
    problems = []
    for row in rows:
        if row.get("ok") is not False:
            continue
        value = row["measured"]
        if "floor" in row and not value >= row["floor"]:
            problems.append(f"{lab}: {row['name']!r} = {value:.4g}, below its floor {row['floor']:.4g}"
                            + (f" (the text says {row['expected']:.4g})" if row.get("expected") is not None else ""))
        if "ceiling" in row and not value <= row["ceiling"]:
            problems.append(f"{lab}: {row['name']!r} = {value:.4g}, above its ceiling {row['ceiling']:.4g}"
                            + (f" (the text says {row['expected']:.4g})" if row.get("expected") is not None else ""))
    if rows and not any("floor" in row or "ceiling" in row for row in rows):
        problems.append(f"{lab}: no row has a floor or ceiling (give its report_numbers cell floors=...)")
    if any(row.get("mode") == "fast" for row in rows):
        problems.append(f"{lab}: the rows were measured in fast mode, not full mode")
    return problems


def check_records(records):
    """Prints one line per lab (ok, or each problem); returns the number of problems."""
    problems = 0
    for record in records:
        found = check_record(record)
        limited = sum("floor" in row or "ceiling" in row for row in record.get("rows", []))
        if found:
            for line in found:
                print(f"CHECK FAILED {line}", flush=True)
        else:
            print(f"check ok {record['lab']}: {limited} rows within their floors and ceilings "
                  f"({record.get('date', '')})", flush=True)
        problems += len(found)
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="labs to run, e.g. labs/00_prepare_data.ipynb")
    parser.add_argument("--timeout", type=int, default=4 * 3600,
                        help="seconds allowed per cell (default 4 hours)")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    parser.add_argument("--online", action="store_true",
                        help="COURSE_LIB_OFFLINE=0: the labs' online paths (default: offline data)")
    parser.add_argument("--out", default=str(FULL_DIR), help="folder of the JSON records")
    parser.add_argument("--keep-cache", action="store_true",
                        help="use COURSE_LIB_CACHE as set (default: a fresh folder per lab, so that "
                             "nothing an earlier run left is reused)")
    parser.add_argument("--check", action="store_true",
                        help="exit non-zero, naming the row, when a lab falls below a floor or above a "
                             "ceiling of its report_numbers cell; without notebooks, judge the stored "
                             "records in --out")
    args = parser.parse_args(argv)
    os.environ["COURSE_LIB_OFFLINE"] = "0" if args.online else os.environ.get(
        "COURSE_LIB_OFFLINE", "1")
    out = Path(args.out)
    if args.check and not args.notebooks:
        records = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
        if not records:
            print(f"No records in {out}: run labs first (python bench/run_full.py --check labs/...)")
            return 1
        return 1 if check_records(records) else 0
    out.mkdir(parents=True, exist_ok=True)
    failed, records = [], []
    for notebook in args.notebooks:
        print(f"Running {notebook} in full mode ...", flush=True)
        record = run_lab(notebook, args.timeout, args.kernel, fresh_cache=not args.keep_cache)
        name = record["lab"] + (".gpu" if record["gpu"] else "") + ".json"
        (out / name).write_text(json.dumps(record, indent=1) + "\n")
        status = f"FAILED ({record['error']})" if record["error"] else "ok"
        print(f"{record['lab']}: {status}, {record['wall_seconds']:.0f} s, "
              f"{len(record['rows'])} numbers -> {out / name}", flush=True)
        if record["error"]:
            failed.append(record["lab"])
        records.append(record)
    results = RESULTS if out == FULL_DIR else out / "results_full.md"
    write_table(out, results)
    print(f"Wrote {results}")
    if args.check:
        return 1 if check_records(records) or failed else 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
