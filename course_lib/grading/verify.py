"""CI check of one lab: each exercise is a real exercise, and questions are independent.

    problems = verify_lab("labs/00_prepare_data.ipynb")     # [] when all is well
    course-lib verify labs/                                  # the same from the shell

One kernel per lab, one pass over its cells in order (the solutions' full run
is nbval's job and is not repeated here):

- an instructor cell must run without error while every earlier answer is the
  student's stub (so a student who skips a question can still run the rest);
- for each check cell, in place: with the reference solution, the full check
  (hidden parts included) must pass; with the stub (the names the solution
  defined removed first), the released check must fail and so must the full
  one. The solution is then re-run for the question's next check cell, and the
  stub left in place after its last one.

So a released lab fails every graded check, and replacing one solution with its
stub loses exactly that question's points.
"""

from pathlib import Path

from course_lib.grading import format as fmt
from course_lib.grading.kernel import KernelSession


def verify_lab(source, cell_timeout=600, kernel_name="python3", cwd=None):
    """Returns the problems found in one instructor notebook (an empty list if none).

    Args:
        source: path of the instructor notebook.
        cell_timeout: seconds any one cell may run.
        kernel_name: the Jupyter kernel to use.
        cwd: working directory of the kernel (default: the notebook's folder, as nbval).

    Raises:
        ValueError: the notebook fails the lint.
    """
    source = Path(source)
    nb = fmt.read_notebook(source)
    problems = fmt.lint_notebook(nb, name=str(source))
    if problems:
        raise ValueError(f"{source} has format problems; fix them first:\n"
                         + "\n".join(f"  {p}" for p in problems))
    questions = fmt.list_questions(nb)
    owner = {}
    for q in questions:
        for position, index in enumerate(q.check_indices):
            owner[index] = (q, position == len(q.check_indices) - 1)
    found = []

    def report(index, gid, message):
        found.append(f"{source}: cell {index}" + (f" ({gid!r})" if gid else "") + f": {message}")

    with KernelSession(kernel_name=kernel_name, cwd=cwd or source.parent) as kernel:
        def run(code, index, gid, what):
            result = kernel.run(code, cell_timeout)
            if result.fatal:
                report(index, gid, f"{what}: {result.status} ({result.evalue})")
                raise _Stop
            return result

        try:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                kind = fmt.cell_kind(cell)
                text = fmt.source_text(cell)
                gid = fmt.grade_id(cell)
                if kind == "answer":
                    run(text, index, gid, "the solution")
                elif kind == "check" and index in owner:
                    question, last = owner[index]
                    answer = fmt.source_text(nb.cells[question.answer_index])
                    full = run(text, index, gid, "the check with the solution")
                    if not full.ok:
                        report(index, gid, f"fails with the reference solution: "
                                           f"{full.ename}: {full.evalue}")
                    stub = fmt.stub_solution(answer)
                    names = sorted(fmt.defined_names(answer) - fmt.defined_names(stub))
                    if names:
                        run(f"for _course_lib_name in {names!r}:\n"
                            f"    globals().pop(_course_lib_name, None)", index, gid, "cleanup")
                    run(stub, index, gid, "the stub")
                    released = run(fmt.remove_hidden_tests(text), index, gid,
                                   "the released check with the stub")
                    if released.ok:
                        report(index, gid, f"the released check passes with the stub of "
                                           f"{question.answer_id!r}; it must fail until the "
                                           f"student answers (call the student's code in the "
                                           f"visible part).")
                    hidden = run(text, index, gid, "the check with the stub")
                    if hidden.ok:
                        report(index, gid, f"passes with the stub of {question.answer_id!r}; "
                                           f"it does not test the answer.")
                    if not last:
                        run(answer, index, gid, "the solution (restored)")
                else:
                    result = run(text, index, gid, "the cell")
                    if not result.ok and "raises-exception" not in cell.metadata.get("tags", []):
                        report(index, gid, f"fails when the answers above are stubs "
                                           f"({result.ename}: {result.evalue}); instructor "
                                           f"cells must not use a student's answer (use the "
                                           f"library's reference implementation).")
        except _Stop:
            pass
    return found


class _Stop(Exception):
    pass
