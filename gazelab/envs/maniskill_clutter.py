"""PushCube-v1 with visual clutter: ManiSkill3's push task plus random distractor primitives around it.

The distractors are boxes, spheres and cylinders with visual shapes only (no collision shapes) on kinematic
bodies, so they cannot touch the robot or the cube: physics, reward and success are exactly PushCube-v1's.
Shapes, sizes and colours are drawn per sub-scene when the scene is built (a reconfiguration); positions and
orientations are redrawn every episode, on the table on both sides of the cube-to-goal strip, so the task objects
stay visible. Higher levels add more distractors; as in the built-in tasks, clutter distracts but never deceives:
random colours keep at least ``MIN_COLOUR_DISTANCE`` (in 0-255 RGB) from the cube's blue and the goal's red, and
only the named ``lookalike`` level copies them (half of its 8 distractors are cube twins or goal-red cylinders).

Importing this module imports ``mani_skill`` (so call ``gazelab.envs.vulkan.ensure_vulkan`` first; ``make_env``
does) and registers ``PushCubeClutter-v1`` with ManiSkill.
"""

from __future__ import annotations

import numpy as np
import sapien
import torch
from mani_skill.envs.tasks.tabletop.push_cube import PushCubeEnv
from mani_skill.utils.building import actors
from mani_skill.utils.registration import register_env
from mani_skill.utils.structs import Actor, Pose

from gazelab.core.errors import GazelabError
from gazelab.envs.clutter import MIN_COLOUR_DISTANCE, clutter_level

MANISKILL_ID = "PushCubeClutter-v1"
NUM_DISTRACTORS = {"none": 0, "mild": 4, "medium": 8, "heavy": 16, "lookalike": 8}
LOOKALIKE_SHARE = {"none": 0.0, "mild": 0.0, "medium": 0.0, "heavy": 0.0, "lookalike": 0.5}
CUBE_BLUE = np.array([12, 42, 160, 255]) / 255
GOAL_RED = np.array([194, 19, 22, 255]) / 255
# Distractors lie in x in [X_RANGE] and |y| in [Y_RANGE] (metres, table frame): beside the strip where the cube
# (|x|, |y| <= 0.1) is pushed onto the goal (0.2 m further along +x, radius 0.1), inside the camera's view.
X_RANGE = (-0.35, 0.3)
Y_RANGE = (0.22, 0.4)


def _distinct_colour(rng: np.random.RandomState) -> np.ndarray:
    """A random RGB colour in [0.1, 0.95]^3 at least MIN_COLOUR_DISTANCE / 255 from the cube's blue and the goal's red
    (rejection sampling; about a quarter of the draws are rejected)."""
    task = np.stack([CUBE_BLUE[:3], GOAL_RED[:3]])
    while True:
        colour = rng.uniform(0.1, 0.95, 3)
        if np.linalg.norm(task - colour, axis=1).min() * 255 >= MIN_COLOUR_DISTANCE:
            return colour


@register_env(MANISKILL_ID, max_episode_steps=50)
class PushCubeClutterEnv(PushCubeEnv):
    """PushCube-v1 plus ``NUM_DISTRACTORS[clutter]`` visual-only distractors.

    Args:
        clutter: 'none' | 'mild' | 'medium' | 'heavy' (or 0..3), or 'lookalike'.
        *args, **kwargs: as PushCube-v1.
    """

    def __init__(self, *args, clutter: str | int = "medium", **kwargs):
        self.clutter = clutter_level(clutter)
        if self.clutter not in NUM_DISTRACTORS:  # the built-in tasks' scene, transfer levels: no ManiSkill version
            raise GazelabError(f"clutter={clutter!r} exists for the built-in tasks only; {MANISKILL_ID} takes one of "
                               f"{tuple(NUM_DISTRACTORS)} or 0..3")
        super().__init__(*args, **kwargs)

    def _load_scene(self, options: dict):
        super()._load_scene(options)
        self.distractors: list[Actor] = []
        self._rest_height: list[torch.Tensor] = []  # per distractor: (num_envs,) centre height resting on the table
        lookalike = LOOKALIKE_SHARE[self.clutter]
        for k in range(NUM_DISTRACTORS[self.clutter]):
            per_scene, heights = [], []
            for i in range(self.num_envs):
                rng = self._batched_episode_rng[i]
                copy_task = rng.rand() < lookalike
                if copy_task:  # a cube twin or a goal-red disc-like cylinder
                    colour = CUBE_BLUE if rng.rand() < 0.5 else GOAL_RED
                else:
                    colour = np.concatenate([_distinct_colour(rng), [1.0]])
                size = 0.02 if copy_task else rng.uniform(0.02, 0.05)
                kind = 0 if copy_task and colour is CUBE_BLUE else rng.randint(3)
                name = f"distractor_{k}_{i}"
                common = dict(color=colour, name=name, body_type="kinematic", add_collision=False, scene_idxs=[i],
                              initial_pose=sapien.Pose(p=[0, 1 + 0.1 * k, size]))
                if kind == 0:
                    actor = actors.build_box(self.scene, half_sizes=[size] * 3, **common)
                elif kind == 1:
                    actor = actors.build_sphere(self.scene, radius=size, **common)
                else:
                    actor = actors.build_cylinder(self.scene, radius=size, half_length=size, **common)
                per_scene.append(actor)
                heights.append(size)  # box half-side, sphere radius, or radius of a cylinder lying on its side
            self.distractors.append(Actor.merge(per_scene, name=f"distractor_{k}"))
            self._rest_height.append(torch.tensor(heights, dtype=torch.float32, device=self.device))

    def _initialize_episode(self, env_idx: torch.Tensor, options: dict):
        super()._initialize_episode(env_idx, options)
        with torch.device(self.device):
            b = len(env_idx)
            for actor, height in zip(self.distractors, self._rest_height):
                xyz = torch.zeros(b, 3)
                xyz[:, 0] = X_RANGE[0] + torch.rand(b) * (X_RANGE[1] - X_RANGE[0])
                side = torch.where(torch.rand(b) < 0.5, -1.0, 1.0)
                xyz[:, 1] = side * (Y_RANGE[0] + torch.rand(b) * (Y_RANGE[1] - Y_RANGE[0]))
                xyz[:, 2] = height[env_idx]
                yaw = torch.rand(b) * 2 * np.pi
                quat = torch.stack([torch.cos(yaw / 2), torch.zeros(b), torch.zeros(b), torch.sin(yaw / 2)], 1)
                actor.set_pose(Pose.create_from_pq(p=xyz, q=quat))
