"""The method of "Gaze on the Prize", independent of any RL algorithm: the Gaussian gaze and its ablations
(:mod:`~gazelab.method.attention`) on a CNN's feature map (:mod:`~gazelab.method.encoders`), the outcome labels
(:mod:`~gazelab.method.returns`, :mod:`~gazelab.method.labels`), the contrastive buffer
(:mod:`~gazelab.method.buffer`), triplet mining and the contrastive update (:mod:`~gazelab.method.contrastive`), the
plug-in that a trainer feeds (:mod:`~gazelab.method.plugin`), and the fovea drawn on a frame
(:mod:`~gazelab.method.drawing`)."""
