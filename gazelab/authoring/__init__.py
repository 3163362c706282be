"""Tools for whoever maintains the course, not needed to use gazelab (the student wheel leaves them out): the
tutorial generator (:mod:`~gazelab.authoring.tutorials`), the nbgrader release and the sandboxed grading
(:mod:`~gazelab.authoring.grading`, :mod:`~gazelab.authoring.exercise_run`, :mod:`~gazelab.authoring.sandbox`) and the
offline HTML site (:mod:`~gazelab.authoring.site`). They work on a checkout (solutions/, tutorials/)."""
