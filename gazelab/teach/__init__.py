"""What the notebooks use beside the method: plots (:mod:`~gazelab.teach.viz`), widgets that move the fovea by hand
(:mod:`~gazelab.teach.widgets`), the graded exercises (:mod:`~gazelab.teach.exercises`) and quizzes
(:mod:`~gazelab.teach.quiz`, which holds no key), the smoke switch, budgets, points and the capstone's runs
(:mod:`~gazelab.teach.course`) and the Vulkan set-up of a cloud notebook (:mod:`~gazelab.teach.cloud`). Built on the
method and the tasks only."""
