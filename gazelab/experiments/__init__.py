"""Experiments built from trainers: seeds x methods x tasks sweeps and their summaries
(:mod:`~gazelab.experiments.sweep`), the command-line recipes (:mod:`~gazelab.experiments.recipes`), evaluation
of a saved run with videos (:mod:`~gazelab.experiments.evaluate`) and the demo
(:mod:`~gazelab.experiments.demo`)."""
