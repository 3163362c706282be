"""Tools for whoever maintains the course, not needed to use gazelab: the tutorial generator and the nbgrader
release and grading (:mod:`~gazelab.authoring.tutorials`) and the offline HTML site
(:mod:`~gazelab.authoring.site`). They work on a checkout (solutions/, tutorials/)."""
