"""What the notebooks use beside the method: plots (:mod:`~gazelab.teach.viz`), widgets that move the fovea by hand
(:mod:`~gazelab.teach.widgets`), the graded exercises (:mod:`~gazelab.teach.exercises`) and the smoke switch and
budgets (:mod:`~gazelab.teach.course`). Built on the method and the tasks only."""
