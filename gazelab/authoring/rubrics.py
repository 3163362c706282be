"""Each written answer's model answer and rubric where the grader looks: in formgrader, under the student's answer.

Formgrader (nbgrader's grading page) shows the *autograded copy* of a submission,
``<course>/autograded/<student>/<assignment>/<assignment>.ipynb``, rendered cell by cell: a manually graded answer
cell is a panel with the student's answer, a score box and a comment box, and any other markdown cell is shown as
it is. Nothing of the source notebook (where the model answer and the rubric live) appears there. So ``make grade``
(:mod:`gazelab.authoring.grading`), after nbgrader has recorded a submission, inserts below every answer cell of
that copy a read-only markdown cell "For the grader" holding the cell's model answer and rubric, taken from the
course's source notebook (``solutions/``).

The notes are marked in their metadata (``gazelab.grader_note``) and never reach students: the student's own
notebook is not touched, and ``nbgrader generate_feedback`` (which renders the autograded copies) drops them with
:class:`DropGraderNotes`, which the course's ``nbgrader_config.py`` lists. ``make grade`` run again rewrites the
copy and the notes (no duplicates).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

NOTE_KEY = "gazelab"
"""Cell metadata key of a grader's note: ``{"gazelab": {"grader_note": "<grade_id>"}}``."""

__all__ = ["NOTE_KEY", "grader_notes", "add_grader_notes", "is_grader_note", "DropGraderNotes"]


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_grader_note(cell) -> bool:
    return bool(cell.get("metadata", {}).get(NOTE_KEY, {}).get("grader_note"))


def grader_notes(source: nbformat.NotebookNode, name: str) -> dict[str, str]:
    """{grade_id: the note's markdown} for every manually graded answer (``grade`` and ``solution``, markdown) of
    the course's ``source`` notebook (``name``: its file name, quoted in the note)."""
    notes = {}
    for cell in source.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "markdown" or not (meta.get("grade") and meta.get("solution")):
            continue
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in cell.source.strip().splitlines())
        notes[meta["grade_id"]] = (
            f"**For the grader: `{meta['grade_id']}`, {float(meta.get('points') or 0):g} points.** The model answer "
            f"and the rubric from `solutions/{name}`, added by `make grade` to the graded copy only (not in the "
            f"student's notebook, left out of nbgrader's feedback):\n\n{quoted}")
    return notes


def add_grader_notes(path: Path, notes: dict[str, str]) -> int:
    """Insert the note of every answer cell of the notebook at ``path`` (an autograded copy) right below it, read-only;
    notes from an earlier run are replaced. Returns how many were inserted."""
    from gazelab.authoring.tutorials import _write_atomically

    notebook = nbformat.read(path, as_version=4)
    cells, added = [], 0
    for cell in notebook.cells:
        if is_grader_note(cell):
            continue
        cells.append(cell)
        grade_id = _grade_id(cell)
        if grade_id in notes and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            note = nbformat.v4.new_markdown_cell(notes[grade_id])
            note.metadata = {"editable": False, "deletable": False, NOTE_KEY: {"grader_note": grade_id}}
            cells.append(note)
            added += 1
    notebook.cells = cells
    _write_atomically(notebook, Path(path))
    return added


class DropGraderNotes(Preprocessor):
    """nbconvert preprocessor: the notebook without the grader's notes (``nbgrader generate_feedback`` runs it, as
    the course's ``nbgrader_config.py`` says, so feedback shows students no rubric)."""

    enabled = Bool(True, help="on by default (nbconvert's preprocessors are off unless enabled)").tag(config=True)

    def preprocess(self, nb, resources):
        nb.cells = [cell for cell in nb.cells if not is_grader_note(cell)]
        return nb, resources
