"""gazelab: return-guided foveal attention for visual reinforcement learning, built to be taught.

The sub-packages are the layers, bottom to top: ``core``, ``method`` and ``envs``, ``rl``, ``teach``,
``experiments``, ``authoring``, and the ``gazelab`` command (``cli``); docs/design.md has the table of what each holds
and may import. Importing gazelab registers the built-in tasks with gymnasium, so
``gym.make("gazelab/Reach-v0", num_envs=4)`` works after ``import gazelab`` (or, with no import, as
``gym.make("gazelab:gazelab/Reach-v0")``).
"""

__version__ = "0.1.0"

from gazelab import envs as _register_envs  # noqa: E402,F401  (registration with gymnasium is a side effect)
from gazelab.core.errors import GazelabError  # noqa: E402

__all__ = ["GazelabError", "__version__"]
