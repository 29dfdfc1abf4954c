"""Command line of the grading tools: `course-lib lint | release | grade | verify | links`.

    course-lib lint [labs/]                          format problems of the sources (exit 1 if any)
    course-lib release [labs/ colab/] [--check]      student release (--check: exit 1 if stale)
    course-lib grade --source labs/01_x.ipynb --submissions DIR --out DIR
    course-lib verify [labs/]                        every exercise fails when stubbed (slow: runs the labs)
    course-lib links [labs/]                         the README's table of Colab links
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
    from course_instructor.release import release_labs
    report = release_labs(args.source_dir, args.release_dir, repo_url=args.repo_url,
                          ref=args.ref, check=args.check)
    print(report)
    return 0 if report.ok else 1


def _grade(args):
    from course_instructor.grade import grade_submissions
    env = dict(os.environ)
    if args.fast:
        env["COURSE_LIB_FAST"] = "1"
    results = grade_submissions(args.source, args.submissions, out=args.out,
                                cell_timeout=args.cell_timeout,
                                notebook_timeout=args.notebook_timeout, env=env)
    for result in results:
        print(f"{result.student}: {result.score:g}/{result.max_score:g} ({result.status})")
        for note in result.notes:
            print(f"    {note}")
    print(f"Graded {len(results)} submission(s); wrote {args.out}/results.json, "
          f"{args.out}/scores.csv and one results.json per student.")
    return 0


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
    release.set_defaults(func=_release)

    grade = commands.add_parser("grade", help="grade submitted notebooks")
    grade.add_argument("--source", required=True, help="the instructor notebook (labs/NN_x.ipynb)")
    grade.add_argument("--submissions", required=True,
                       help="folder of <student>.ipynb or <student>/<lab>.ipynb")
    grade.add_argument("--out", default="grades", help="folder for the results (default grades/)")
    grade.add_argument("--cell-timeout", type=float, default=120, help="seconds per cell")
    grade.add_argument("--notebook-timeout", type=float, default=1800,
                       help="seconds per submission")
    grade.add_argument("--fast", action="store_true", help="run the labs in fast mode")
    grade.set_defaults(func=_grade)

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
    return parser


def main(argv=None):
    """Entry point of `course-lib`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:
        print(f"course-lib {args.command}: {error}", file=sys.stderr)
        return 2
