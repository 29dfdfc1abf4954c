"""CI check of one lab on the grading pipeline: every exercise is a real exercise.

    problems = verify_lab("labs/00_prepare_data.ipynb")     # [] when all is well
    course-lib verify labs/                                  # the same from the shell

With the grader's own machinery (`grade.py`, `judge.py`; plain kernels, the source is trusted):

- the reference run (solutions in place) must run every cell, and each check's
  solution value must pass its own check;
- the solution, graded as a submission, scores full marks, twice with the same result
  (the second pass is the in-place run below);
- the released notebook (every answer a stub) scores 0 on every question, and every
  instructor cell runs while the answers above it are stubs (a student who skips a
  question can still run the rest; cells tagged `raises-exception` may fail);
- in one kernel, after each question's checks passed with the solution, its answer is
  replaced by the stub (the names the solution defined removed first) and each of its
  check cells must fail; the solution is then restored;
- from-scratch questions (`course_lib.forbidden`): the cells up to the question's last
  check run with those references made to raise, and must all pass.
"""

from pathlib import Path

from course_instructor import format as fmt
from course_instructor import grade, judge
from course_instructor.kernel import KernelSession
from course_instructor.release import notebook_bytes, release_notebook


def verify_lab(source, cell_timeout=600, kernel_name="python3", env=None):
    """Returns the problems found in one instructor notebook (an empty list if none).

    Args:
        source: path of the instructor notebook.
        cell_timeout: seconds any one cell may run.
        kernel_name: the Jupyter kernel to use.
        env: environment of the kernels (default: this process's).

    Raises:
        ValueError: the notebook fails the lint.
    """
    import tempfile
    source = Path(source)
    nb = fmt.read_notebook(source)
    problems = fmt.lint_notebook(nb, name=str(source))
    if problems:
        raise ValueError(f"{source} has format problems; fix them first:\n"
                         + "\n".join(f"  {p}" for p in problems))
    questions = fmt.list_questions(nb)
    found = []

    def report(index, message):
        gid = fmt.grade_id(nb.cells[index]) if index is not None else None
        where = f"{source}" + (f": cell {index}" if index is not None else "")
        found.append(where + (f" ({gid!r})" if gid else "") + f": {message}")

    try:
        reference = grade.run_reference(nb, env=env, kernel_name=kernel_name,
                                        cell_timeout=cell_timeout, cache=False)
    except RuntimeError as error:
        report(None, str(error))
        return found
    for index, message in reference.problems:
        report(index, f"fails with the reference solutions ({message})")
    for index, runs in reference.runs.items():
        for run in runs:
            for record in run.records:
                message = judge.judge_region([record], [record])
                if message is not None:
                    report(index, f"the reference solution fails its own check: {message[-1]}")
    if found:
        return found
    factory = grade.make_kernel_factory(kernel_name=kernel_name, env=env, sandbox=False)
    with tempfile.TemporaryDirectory(prefix="course-lib-verify-") as folder:
        solution_path = Path(folder) / "solution.ipynb"
        solution_path.write_bytes(notebook_bytes(nb))
        stub_path = Path(folder) / "stubs.ipynb"
        stub_path.write_bytes(notebook_bytes(release_notebook(nb, source.name)))

        def graded(path):
            return grade.grade_notebook(
                nb, path, cell_timeout=cell_timeout, notebook_timeout=cell_timeout * len(nb.cells),
                kernel_factory=factory, reference=reference,
                poisoned_factory=grade._factories(kernel_name, env, False))

        solved = graded(solution_path)
        for test in solved.tests:
            if test["score"] != test["max_score"]:
                index = _check_index(questions, test["name"])
                report(index, f"the solution, graded as a submission, scores "
                              f"{test['score']:g}/{test['max_score']:g}: {test['output']}")
        stubbed = graded(stub_path)
        for test in stubbed.tests:
            if test["score"]:
                report(_check_index(questions, test["name"]),
                       f"the released notebook (every answer a stub) scores {test['score']:g} "
                       f"here; the check must fail until the student answers.")
        for note in stubbed.notes:
            if note.startswith("cell "):
                index = int(note.split()[1])
                report(index, f"fails when the answers above are stubs ({note}); instructor "
                              f"cells must not use a student's answer (use the library's "
                              f"reference implementation).")
        in_place = _stub_each_question(nb, reference, questions, kernel_name, env, cell_timeout,
                                       report)
        if in_place is not None and in_place != {t["name"]: t["score"] == t["max_score"]
                                                 for t in solved.tests}:
            report(None, f"the solution's results differ between two runs ({in_place} vs "
                         f"{[t['score'] for t in solved.tests]}); checks must be deterministic.")
    return found


def _check_index(questions, check_id):
    for q in questions:
        if check_id in q.check_ids:
            return q.check_indices[q.check_ids.index(check_id)]
    return None


def _stub_each_question(nb, reference, questions, kernel_name, env, cell_timeout, report):
    """One kernel: solutions in place; after a question's checks, its stub must fail them.

    Returns {check grade_id: passed with the solution}, or None if the kernel died.
    """
    import tempfile
    last_check = {q.check_indices[-1]: q for q in questions}
    passed = {}

    def judge_cell(kernel, index):
        runs = []
        for region in reference.plan[index]:
            result = kernel.run(region.student, cell_timeout)
            if result.fatal:
                raise _Stop(f"{result.status} ({result.evalue})")
            records, problem = judge.read_records(result.outputs)
            runs.append(grade.RegionRun(result.ok and problem is None, records, result.ename))
            if not runs[-1].ok:
                break
        return grade.judge_check(reference.runs[index], runs,
                                 [r.kind for r in reference.plan[index]]).passed

    with tempfile.TemporaryDirectory(prefix="course-lib-verify-") as folder:
        with KernelSession(kernel_name=kernel_name, cwd=folder, env=env) as kernel:
            try:
                kernel.run(judge.STUDENT_PRELUDE, 60)
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    kind = fmt.cell_kind(cell)
                    if kind == "check" and index in reference.plan:
                        passed[fmt.grade_id(cell)] = judge_cell(kernel, index)
                    else:
                        result = kernel.run(fmt.source_text(cell), cell_timeout)
                        if result.fatal:
                            raise _Stop(f"{result.status} ({result.evalue})")
                    if index not in last_check:
                        continue
                    question = last_check[index]
                    answer = fmt.source_text(nb.cells[question.answer_index])
                    stub = fmt.stub_solution(answer)
                    names = sorted(fmt.defined_names(answer) - fmt.defined_names(stub))
                    kernel.run(f"for _course_lib_name in {names!r}:\n"
                               f"    globals().pop(_course_lib_name, None)", 60)
                    kernel.run(stub, cell_timeout)
                    for check_index in question.check_indices:
                        if judge_cell(kernel, check_index):
                            report(check_index, f"passes with the stub of "
                                                f"{question.answer_id!r} (the other answers "
                                                f"solved); it does not test the answer.")
                    kernel.run(answer, cell_timeout)
            except _Stop as stop:
                report(None, f"the kernel stopped while verifying: {stop}")
                return None
    return passed


class _Stop(Exception):
    pass
