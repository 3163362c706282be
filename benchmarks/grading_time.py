"""How long `make grade` takes per student: a full submission of every notebook, graded as `make grade` grades it.

A release into a fresh course folder (a temporary one), then the model solutions of all nine notebooks handed in
as one student's (every code exercise passes, each runs in its sandboxed process; every quiz answer is the key's),
graded once with one student and once with ``--students`` of them; the difference gives the time per further
student, the first run the fixed start (course set-up, the sandbox probe, nbgrader's assignments). Prints the numbers
INSTRUCTORS.md quotes.

    python benchmarks/grading_time.py --students 3
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

from gazelab.authoring import grading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=3, help="students of the second run (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gazelab-grading-time-") as tmp:
        course, submissions = Path(tmp) / "course", Path(tmp) / "submissions"
        start = time.monotonic()
        grading.release(course)
        print(f"release: {time.monotonic() - start:.1f} s")
        names = sorted(p.name for p in (course / "source").iterdir())

        def hand_in(student: str) -> None:
            (submissions / student).mkdir(parents=True)
            for name in names:
                shutil.copy(course / "source" / name / f"{name}.ipynb", submissions / student / f"{name}.ipynb")

        hand_in("s1")
        start = time.monotonic()
        table = grading.grade_submissions(submissions, course)
        one = time.monotonic() - start
        rows = list(csv.DictReader(table.open()))
        points = sum(float(r["total"]) for r in rows)
        print(f"1 student, {len(names)} notebooks: {one:.1f} s ({points:g} points of the code exercises and quizzes; "
              f"problems: {[r['problems'] for r in rows if r['problems']] or 'none'})")
        for index in range(2, args.students + 1):
            hand_in(f"s{index}")
        start = time.monotonic()
        grading.grade_submissions(submissions, course)
        many = time.monotonic() - start
        print(f"{args.students} students: {many:.1f} s, so {(many - one) / max(args.students - 1, 1):.1f} s per "
              "further student")


if __name__ == "__main__":
    main()
