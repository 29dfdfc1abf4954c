"""Command line of the grading tools: `course-lib lint | release | grade | verify | links`.

    course-lib lint [labs/]                          format problems of the sources (exit 1 if any)
    course-lib release [labs/ colab/] [--check]      student release (--check: exit 1 if stale)
    course-lib release --student-tree DIR            the student tree that gets published
    course-lib grade --source labs/01_x.ipynb --submissions DIR --out DIR [--no-sandbox]
    course-lib gradescope labs/01_x.ipynb [--out autograder.zip]   Gradescope autograder zip
    course-lib verify [labs/]                        every exercise fails when stubbed (slow: runs the labs)
    course-lib links [labs/]                         the README's table of Colab links
    course-lib doctor [--lab NN] [--no-measure]      this machine against the labs' tested setup
"""

import argparse
import os
import sys
from pathlib import Path


def _notebooks(paths):
    found = []
    for path in paths:
        path = Path(path)
        found.extend(sorted(path.glob("*.ipynb")) if path.is_dir() else [path])
    return found


def _lint(args):
    from course_instructor.format import lint_paths
    problems = lint_paths(args.paths)
    for problem in problems:
        print(problem)
    count = len(_notebooks(args.paths))
    if problems:
        print(f"{len(problems)} problem(s) in {count} notebook(s).", file=sys.stderr)
        return 1
    print(f"{count} notebook(s) OK.")
    return 0


def _release(args):
    from course_instructor.release import build_student_tree, release_labs
    if args.student_tree:
        report = build_student_tree(args.student_tree, args.source_dir, repo_url=args.repo_url,
                                    ref=args.ref, force=args.force)
        print(report)
        return 0 if report.ok else 1
    report = release_labs(args.source_dir, args.release_dir, repo_url=args.repo_url,
                          ref=args.ref, check=args.check, force=args.force)
    print(report)
    return 0 if report.ok else 1


NO_SANDBOX_WARNING = (
    "WARNING: --no-sandbox: the submissions' code runs with your user's rights; it can read "
    "your files (the instructor sources included), write anywhere you can, use the network "
    "and outlive the grader. Use it only for submissions you trust.")


def _limits(args):
    from course_instructor.sandbox import Limits
    wall = args.wall_seconds if args.wall_seconds is not None else args.notebook_timeout + 60
    return Limits().merged(cpu_seconds=args.cpu_seconds, memory_mb=args.memory_mb,
                           processes=args.max_processes, disk_mb=args.disk_mb, wall_seconds=wall)


def _grade(args):
    from course_instructor.grade import grade_submissions
    from course_instructor.sandbox import find_bwrap
    env = dict(os.environ)
    if args.fast:
        env["COURSE_LIB_FAST"] = "1"
    limits = _limits(args)
    if args.sandbox:
        find_bwrap()            # stop before grading anything, saying how to fix it
    else:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    results = grade_submissions(args.source, args.submissions, out=args.out,
                                cell_timeout=args.cell_timeout,
                                notebook_timeout=args.notebook_timeout, env=env,
                                sandbox=args.sandbox, limits=limits, progress=True)
    for result in results:
        print(f"{result.student}: {result.score:g}/{result.max_score:g} ({result.status})")
        for note in result.notes:
            print(f"    {note}")
    out = Path(args.out)
    print(f"Graded {len(results)} submission(s); wrote {out / 'results.json'}, "
          f"{out / 'scores.csv'} and one results.json per student.")
    return 0


def _gradescope(args):
    from course_instructor.gradescope import build_autograder
    path = build_autograder(args.source, out=args.out, cell_timeout=args.cell_timeout,
                            notebook_timeout=args.notebook_timeout, fast=args.fast,
                            limits=_limits(args))
    print(f"Wrote {path}: upload it in Gradescope (Configure Autograder > Zip file upload; "
          f"base image Ubuntu 22.04). Test it first: docs/instructors.md, 'Gradescope'.")
    return 0


def _add_limit_options(parser):
    parser.add_argument("--cell-timeout", type=float, default=120, help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=float, default=1800,
                        help="seconds per submission")
    parser.add_argument("--fast", action="store_true", help="run the labs in fast mode")
    limits = parser.add_argument_group("sandbox limits (per submission)")
    limits.add_argument("--memory-mb", type=int, default=None,
                        help="memory per process and per sandbox (default 8192)")
    limits.add_argument("--cpu-seconds", type=float, default=None,
                        help="CPU seconds per process (default 14400)")
    limits.add_argument("--max-processes", type=int, default=None,
                        help="processes and threads per sandbox (default 1024)")
    limits.add_argument("--disk-mb", type=int, default=None,
                        help="size of the writable HOME and /tmp (default 2048)")
    limits.add_argument("--wall-seconds", type=float, default=None,
                        help="lifetime of one sandbox (default: notebook timeout + 60)")


def _verify(args):
    from course_instructor.verify import verify_lab
    if args.fast:
        os.environ["COURSE_LIB_FAST"] = "1"   # the kernel inherits this process's environment
    status = 0
    for notebook in _notebooks(args.paths):
        problems = verify_lab(notebook, cell_timeout=args.cell_timeout)
        for problem in problems:
            print(problem)
        print(f"{notebook}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        status |= bool(problems)
    return status


def _links(args):
    from course_instructor.release import colab_links_markdown
    print(colab_links_markdown(args.source_dir, repo_url=args.repo_url, ref=args.ref), end="")
    return 0


def _doctor(args):
    from course_lib import doctor
    report = doctor.check(lab=args.lab, measure=args.measure)
    print(report)
    print(f"{len(report.problems)} problem(s).")
    return 1 if report.problems else 0


def build_parser():
    parser = argparse.ArgumentParser(prog="course-lib", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    lint = commands.add_parser("lint", help="check the graded-notebook format of the sources")
    lint.add_argument("paths", nargs="*", default=["labs"], help="notebooks or folders (labs/)")
    lint.set_defaults(func=_lint)

    release = commands.add_parser("release", help="write the student notebooks (labs/ -> colab/)")
    release.add_argument("source_dir", nargs="?", default="labs")
    release.add_argument("release_dir", nargs="?", default="colab")
    release.add_argument("--check", action="store_true",
                         help="write nothing; exit 1 if the release folder is stale")
    release.add_argument("--repo-url", default=None,
                         help="GitHub repository to install from and open in Colab")
    release.add_argument("--ref", default=None, help="git tag/branch/commit to pin")
    release.add_argument("--force", action="store_true",
                         help="replace student notebooks that hold outputs or edits")
    release.add_argument("--student-tree", metavar="DIR", default=None,
                         help="write the student tree (course_lib/, data/, colab/, README) to "
                              "DIR, e.g. a clone of the public student repository")
    release.set_defaults(func=_release)

    grade = commands.add_parser("grade", help="grade submitted notebooks")
    grade.add_argument("--source", required=True, help="the instructor notebook (labs/NN_x.ipynb)")
    grade.add_argument("--submissions", required=True,
                       help="folder of <student>.ipynb or <student>/<lab>.ipynb")
    grade.add_argument("--out", default="grades", help="folder for the results (default grades/)")
    _add_limit_options(grade)
    grade.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                       help="run submissions without the bubblewrap sandbox (trusted "
                            "submissions only; prints a warning)")
    grade.set_defaults(func=_grade)

    gradescope = commands.add_parser("gradescope", help="build a Gradescope autograder zip")
    gradescope.add_argument("source", help="the instructor notebook (labs/NN_x.ipynb)")
    gradescope.add_argument("--out", default="autograder.zip", help="the zip to write")
    _add_limit_options(gradescope)
    gradescope.set_defaults(func=_gradescope)

    verify = commands.add_parser("verify", help="check that every exercise fails when stubbed")
    verify.add_argument("paths", nargs="*", default=["labs"])
    verify.add_argument("--cell-timeout", type=float, default=600)
    verify.add_argument("--fast", action="store_true", help="run the labs in fast mode")
    verify.set_defaults(func=_verify)

    links = commands.add_parser("links", help="print the README table of Colab links")
    links.add_argument("source_dir", nargs="?", default="labs")
    links.add_argument("--repo-url", default=None)
    links.add_argument("--ref", default=None)
    links.set_defaults(func=_links)

    doctor = commands.add_parser("doctor", help="check this machine's Python, libraries, GPU, "
                                                "memory, disk and caches for the labs")
    doctor.add_argument("--lab", default=None, help="a lab (05 or 05_segmentation): also measure "
                                                    "a few of its training steps")
    doctor.add_argument("--no-measure", dest="measure", action="store_false",
                        help="with --lab: skip the measured time and memory estimate")
    doctor.set_defaults(func=_doctor)
    return parser


def main(argv=None):
    """Entry point of `course-lib`; returns the exit status."""
    from course_instructor.sandbox import SandboxUnavailableError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, SandboxUnavailableError) as error:
        print(f"course-lib {args.command}: {error}", file=sys.stderr)
        return 2
