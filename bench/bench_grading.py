"""How long the grading tools take: release, grading per submission, verify per lab.

    COURSE_LIB_FAST=1 COURSE_LIB_OFFLINE=1 python bench/bench_grading.py [--submissions 5] [--no-verify]

Grading a real lab uses two submissions made from its source: the reference
solutions (full marks expected) and the released stubs (0 expected), so the
numbers also show the grader agrees with nbval.
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from course_instructor import format as fmt
from course_instructor.grade import grade_submissions
from course_instructor.release import notebook_bytes, release_labs, release_notebook
from course_instructor.verify import verify_lab

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "grading" / "source.ipynb"


def solved(source_nb, name):
    """The released notebook with the source's answer cells (solutions) pasted back."""
    nb = release_notebook(source_nb, name)
    answers = {fmt.grade_id(c): fmt.source_text(c) for c in source_nb.cells
               if fmt.cell_kind(c) == "answer"}
    for cell in nb.cells:
        if fmt.grade_id(cell) in answers:
            cell.source = answers[fmt.grade_id(cell)]
    return nb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=5,
                        help="copies of the fixture's correct submission to grade")
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args()
    labs = sorted((ROOT / "labs").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        release_labs(ROOT / "labs", tmp / "colab")
        first = time.perf_counter() - start
        before = {p.name: p.read_bytes() for p in (tmp / "colab").glob("*.ipynb")}
        release_labs(ROOT / "labs", tmp / "colab")
        same = before == {p.name: p.read_bytes() for p in (tmp / "colab").glob("*.ipynb")}
        print(f"release: {len(labs)} labs in {first:.2f} s; second release identical: {same}")

        fixture = fmt.read_notebook(FIXTURE)
        folder = tmp / "fixture_subs"
        folder.mkdir()
        for i in range(args.submissions):
            (folder / f"student{i:02d}.ipynb").write_bytes(notebook_bytes(solved(fixture, "f.ipynb")))
        start = time.perf_counter()
        results = grade_submissions(FIXTURE, folder, cell_timeout=60)
        elapsed = time.perf_counter() - start
        print(f"grade fixture: {len(results)} submissions in {elapsed:.1f} s "
              f"({elapsed / len(results):.2f} s each); scores {[r.score for r in results]} "
              f"of {results[0].max_score}")

        for lab in labs:
            source_nb = fmt.read_notebook(lab)
            if not fmt.list_questions(source_nb):
                print(f"{lab.name}: no graded question")
                continue
            folder = tmp / lab.stem
            folder.mkdir()
            (folder / "solutions.ipynb").write_bytes(notebook_bytes(solved(source_nb, lab.name)))
            (folder / "stubs.ipynb").write_bytes(notebook_bytes(release_notebook(source_nb, lab.name)))
            start = time.perf_counter()
            results = grade_submissions(lab, folder, cell_timeout=600)
            elapsed = time.perf_counter() - start
            scores = {r.student: f"{r.score:g}/{r.max_score:g} ({r.status})" for r in results}
            print(f"grade {lab.name}: 2 submissions in {elapsed:.1f} s; {scores}")
            if not args.no_verify:
                start = time.perf_counter()
                problems = verify_lab(lab)
                print(f"verify {lab.name}: {time.perf_counter() - start:.1f} s, "
                      f"{len(problems)} problem(s)")
                for problem in problems:
                    print(f"    {problem}")
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
