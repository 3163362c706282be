"""gazelab: return-guided foveal attention for visual reinforcement learning, built to be taught.

Layers, bottom to top (the README's "Map of the package" has one line per module; docs/design.md the why):

    foundation     errors, checks
    method         returns, attention, encoders, buffer, contrastive, labels, plugin, prize   (and the tasks: envs)
    run plumbing   checkpoint, config, episodes, run
    RL             agent, ppo, sac
    tools          algorithms (the registry), evaluate, sweep, recipes
    front ends     demo, cli (the ``gazelab`` command; ``python -m gazelab``)
    teaching       viz, widgets, exercises, course, tutorials, site (on the method and the tasks only)
"""

__version__ = "0.1.0"
