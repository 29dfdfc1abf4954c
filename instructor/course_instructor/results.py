"""Writing grading results: results.json, scores.csv, one Gradescope results.json per student."""

import csv
import io
import json
import re
from pathlib import Path

from course_instructor import format as fmt


def write_results(results, out, source_nb, source_name="lab.ipynb"):
    """Writes results.json, scores.csv and one Gradescope results.json per student into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    questions = fmt.list_questions(source_nb)
    summary = {"source": source_name,
               "questions": {q.answer_id: q.points for q in questions},
               "max_score": sum(q.points for q in questions),
               "students": [r.to_dict() for r in results]}
    (out / "results.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student"] + [q.answer_id for q in questions] + ["total", "max_score", "status"])
    for r in results:
        scores = r.question_scores()
        writer.writerow([r.student] + [_number(scores.get(q.answer_id, 0)) for q in questions]
                        + [_number(r.score), _number(r.max_score), r.status])
    (out / "scores.csv").write_text(buffer.getvalue())
    for r in results:
        folder = out / _safe_name(r.student)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(
            json.dumps(r.to_gradescope(), indent=2, sort_keys=True) + "\n")


def _number(value):
    return int(value) if float(value).is_integer() else value


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"
