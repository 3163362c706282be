"""gazelab: return-guided foveal attention for visual reinforcement learning, built to be taught.

Modules, one concept each:
    attention    Gaussian gaze, patch attention and the identity ("none")
    contrastive  triplet loss, spread loss, FAISS triplet mining, the contrastive update
    buffer       circular store of detached feature maps and their returns
    encoders     NatureCNN (ManiSkill3 baseline) and a finer-map variant
    envs         one ``make_env`` for ManiSkill3 (GPU or CPU) and fast built-in image tasks
    ppo, sac     the RL trainers, with the gaze as a plug-in
    viz, widgets figures and ipywidgets for the notebooks
    cli          the ``gazelab`` command
"""

__version__ = "0.1.0"
