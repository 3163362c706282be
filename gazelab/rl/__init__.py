"""Reinforcement learning with the gaze as a plug-in: the networks (:mod:`~gazelab.rl.networks`), PPO and SAC
(:mod:`~gazelab.rl.ppo`, :mod:`~gazelab.rl.sac`, one function each) on their configs (:mod:`~gazelab.rl.config`),
the run's plumbing (:mod:`~gazelab.rl.run`, :mod:`~gazelab.rl.checkpoint`, :mod:`~gazelab.rl.tracking`), policy
evaluation, its videos and the gaze-on-prize metrics (:mod:`~gazelab.rl.evaluation`, :mod:`~gazelab.rl.video`,
:mod:`~gazelab.rl.prize`), and the registry of algorithms (:mod:`~gazelab.rl.algorithms`)."""
