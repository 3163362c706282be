"""Built-in top-down tabletop tasks: batched pure-PyTorch physics and rendering, ManiSkill3 vector-env conventions.

The scene is the square [-1, 1]^2 seen from above (x = column, y = row, like the image). A blue disc is the
gripper; the action (2,) in [-1, 1] is its velocity (times ``MAX_SPEED`` per step). A green disc marks the goal.
In Push a red square block is pushed by contact (the gripper shoves it out of overlap; collision treats the block
as a disc).

Tasks (``TaskSpec``):
    reach      move the gripper onto the goal. The goal spawns at a distance ``goal_distance`` from the gripper:
               near (one image region holds all that matters) or far (two regions: the single-Gaussian limit).
    push       push the block onto the goal. Goal and gripper spawn near the block, so the decisive pixels
               sit in one region.
A reach task may give the goal a **lamp** (``TaskSpec.lamp_switch`` > 0): the goal disc is lit (green) or dark, and
switches at random with that probability per step; while it is dark every reward counts ``LAMP_OFF_REWARD`` of its
value. Success does not depend on it. Look-alike frames with different returns then differ *on the goal*: the
paper's premise (a small region decides the return) holds by construction, beside ``ReachClutter`` where it fails.

Reward (``reward_mode``, ManiSkill3's names): "normalized_dense" (default), in [0, 1], 1 on success:
    reach: 1 - tanh(SHAPING * |gripper - goal|)
    push : (reach_term + 2 * place_term) / 3 with reach_term = 1 - tanh(SHAPING * |gripper - push pose|) (the
           point behind the block on the goal line) and place_term = 1 - tanh(SHAPING * |block - goal|).
"sparse": 1 on success, else 0 (the paper's first open question: does the method survive returns that rarely vary?).
With a goal lamp, either reward times ``LAMP_OFF_REWARD`` while the lamp is dark.
Episodes terminate on success and truncate after ``max_episode_steps`` (50). As in ManiSkill3, the summed
return is then no quality score (an agent hovering next to the goal collects more than one that finishes fast):
judge policies by ``success_once``; ppo_rgb-style PPO bootstraps at done, which keeps success the best choice.

Observations: ``rgb`` (N, S, S, 3) uint8 and ``state`` (N, 4) float32 = gripper position and velocity only;
where the goal and the block are must be read from the image. A third key, ``prize`` (N, 2) float32, is
*privileged*: the image coordinates of what decides the return (reach: the goal; push: the midpoint of block and
goal, which spawn 0.35-0.6 apart). The networks never read it; only the diagnostics do: the oracle fovea
(``attention="oracle"``, the upper bound of what a perfect fovea buys) and the gaze-on-prize metric
(:mod:`gazelab.rl.prize`). ``prize_parts`` (N, 2, 2), privileged too: the two objects the return depends on
(reach: goal and gripper; push: block and goal), where the two-fovea oracle (``oracle_foveae=2``) looks.

Step semantics copy mani_skill.vector.wrappers.gymnasium.ManiSkillVectorEnv(record_metrics=True): same-step
auto-reset, ``final_observation`` / ``final_info`` / ``_final_info`` when any env is done.

Like a ManiSkill env, :class:`TabletopEnv` is one ``gymnasium.Env`` that simulates the whole batch: its
``observation_space`` / ``action_space`` are batched (leading dimension N), ``single_observation_space`` /
``single_action_space`` describe one env, and ``gym.make("gazelab/Reach-v0", num_envs=N)`` makes it (the ids are
registered by ``import gazelab.envs``). :class:`SingleEnv` is the plain one-env gymnasium view (numpy in and out,
episodes end instead of resetting themselves), the one ``gymnasium.utils.env_checker.check_env`` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from gazelab.envs.clutter import CLUTTER_LEVELS, Clutter, clutter_level
from gazelab.envs.raster import DISC, SQUARE, SpriteRasterizer, pack
from gazelab.core.checks import check_choice, check_int
from gazelab.core.errors import GazelabError

IMAGE_SIZES = (16, 512)
"""Camera sides in pixels an env accepts (built-in and ManiSkill): a training rollout holds num_envs x num_steps
images, 0.8 GB for PPO's built-in batch of 32 x 32 at 512 px, 51 GB at 4096 px."""

MAX_SPEED = 0.1  # gripper displacement per step at |action| = 1, in image units (the image spans 2 units)
GRIPPER_RADIUS = 0.11
GOAL_RADIUS = 0.1  # success distance (block or gripper centre to goal centre)
GOAL_DRAWN_RADIUS = 0.13  # drawn a bit larger than the success disc so the gripper never fully hides it
BLOCK_HALF = 0.1  # block half-side; its collision radius too
SHAPING = 2.0  # tanh shaping scale; 2 (not ManiSkill's 5) because our distances are ~10x larger than metres
SPAWN_BOUND = 0.8  # objects spawn inside [-SPAWN_BOUND, SPAWN_BOUND]^2
WALL = 0.95  # gripper and block centres stay inside [-WALL, WALL]^2

TABLE_COLOUR = (205, 200, 185)
GOAL_COLOUR = (40, 170, 70)
BLOCK_COLOUR = (215, 50, 40)
GRIPPER_COLOUR = (40, 90, 220)
LAMP_OFF_COLOUR = (20, 70, 35)  # a dark goal: >= 100 in RGB from the lit goal, every other task colour and grey
LAMP_OFF_REWARD = 0.25
REWARD_MODES = ("normalized_dense", "sparse")


@dataclass(frozen=True)
class TaskSpec:
    """What a built-in task is."""

    kind: str
    """'reach' or 'push'."""
    goal_distance: tuple[float, float]
    """Range of the goal's spawn distance from the gripper (reach) or from the block (push)."""
    gripper_distance: tuple[float, float] = (0.3, 0.5)
    """Range of the gripper's spawn distance from the block (push only)."""
    max_episode_steps: int = 50
    """Time limit (truncation)."""
    lamp_switch: float = 0.0
    """Reach only: probability per step that the goal's lamp switches between lit and dark (0: no lamp); while it
    is dark every reward counts ``LAMP_OFF_REWARD`` of its value (see the module docstring)."""

    def __post_init__(self):
        if not 0.0 <= self.lamp_switch <= 1.0 or (self.lamp_switch and self.kind != "reach"):
            raise GazelabError(f"lamp_switch={self.lamp_switch!r} with kind={self.kind!r}: a lamp needs kind 'reach' "
                               "and a probability in [0, 1]")


_STATE = ("gripper", "velocity", "goal", "block", "lamp_on", "elapsed_steps", "returns", "success_once")
"""The tensors that hold a batch's task state (the clutter keeps its own)."""


def _sample_around(center: Tensor, lo: float, hi: float, gen: torch.Generator, tries: int = 32) -> Tensor:
    """Points at a distance in [lo, hi] from ``center`` (B, 2) that lie inside the spawn box.

    Vectorised rejection sampling: draw ``tries`` candidates per row and keep the first inside the box; the rare
    row with none keeps its last candidate clamped into the box (its distance then falls a bit short).
    """
    b = center.shape[0]
    dist = lo + torch.rand(b, tries, 1, generator=gen, device=center.device) * (hi - lo)
    angle = torch.rand(b, tries, generator=gen, device=center.device) * 2 * torch.pi
    cand = center[:, None] + dist * torch.stack([angle.cos(), angle.sin()], -1)  # (B, tries, 2)
    ok = (cand.abs() <= SPAWN_BOUND).all(-1)
    first = torch.where(ok.any(1), ok.float().argmax(1), tries - 1)
    return cand[torch.arange(b, device=center.device), first].clamp(-SPAWN_BOUND, SPAWN_BOUND)


class TabletopEnv(gym.Env):
    """A batch of ``num_envs`` copies of one built-in task; see the module docstring.

    Args:
        task: what to solve.
        num_envs: batch size N (>= 1).
        seed: seeds the env's own generators (None = random).
        device: torch device for every tensor.
        image_size: image side S in pixels.
        clutter: clutter level name or int (see ``gazelab.envs.clutter``).
        reward_mode: "normalized_dense" (default) or "sparse" (1 on success, else 0); see the module docstring.
        render_mode: "rgb_array" (``render()`` returns the batch's frames) or None.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    sim_backend = "torch"
    """What simulates the batch (ManiSkill envs say physx_cuda / physx_cpu here): plain torch on ``device``."""

    def __init__(self, task: TaskSpec, num_envs: int = 1, seed: int | None = None, *,
                 device: torch.device | str = "cpu", image_size: int = 64, clutter: str | int = "none",
                 reward_mode: str = "normalized_dense", render_mode: str | None = "rgb_array"):
        check_int("num_envs", num_envs, 1)  # gym.make passes its arguments here unchecked
        check_int("image_size", image_size, *IMAGE_SIZES)
        self.reward_mode = check_choice("reward_mode", reward_mode, REWARD_MODES)
        self.task = task
        self.render_mode = render_mode
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.image_size = image_size
        self.clutter_level = clutter_level(clutter)
        self.max_episode_steps = task.max_episode_steps
        self.single_observation_space = gym.spaces.Dict({
            "rgb": gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            "state": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
            "prize": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
            "prize_parts": gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32),
        })
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        # Three generators: clutter and lamp draws never shift the task's random stream, so clean, cluttered and lamp
        # variants with the same seed play out identically.
        self.task_gen = torch.Generator(device=self.device)
        self.clutter_gen = torch.Generator(device=self.device)
        self.lamp_gen = torch.Generator(device=self.device)
        self._seed(seed)

        table = CLUTTER_LEVELS[self.clutter_level].table_colour or TABLE_COLOUR
        # A lamp's dark goal joins the task colours only when there is a lamp, so the other tasks' clutter (its
        # colours are drawn away from every task colour) stays what it was.
        lamp = [LAMP_OFF_COLOUR] if task.lamp_switch else []
        colours = torch.tensor([table, GOAL_COLOUR, BLOCK_COLOUR, GRIPPER_COLOUR] + lamp, dtype=torch.uint8,
                               device=self.device)
        task_sprites = [(DISC, GOAL_DRAWN_RADIUS), (SQUARE, BLOCK_HALF), (DISC, GRIPPER_RADIUS)]
        self.clutter = Clutter(CLUTTER_LEVELS[self.clutter_level], num_envs, image_size, colours[0], colours[1:],
                               self.clutter_gen, sprite_offset=len(task_sprites))
        self.raster = SpriteRasterizer(task_sprites + self.clutter.sprites, image_size, self.device)
        # Layers, back to front: distractors, goal, block (push only), gripper.
        task_layers = [0, 1, 2] if task.kind == "push" else [0, 2]
        self._task_sprite_ids = torch.tensor(task_layers, device=self.device).expand(num_envs, -1)
        self._task_palette = pack(colours[1:][task_layers]).expand(num_envs, -1)  # (N, T) int32; goal first
        self._lamp_off_palette = pack(torch.tensor(LAMP_OFF_COLOUR, dtype=torch.uint8, device=self.device))
        self._table = pack(colours[0]).view(1, 1).expand(num_envs, 1)

        n = num_envs
        self.gripper = torch.zeros(n, 2, device=self.device)
        self.velocity = torch.zeros(n, 2, device=self.device)
        self.goal = torch.zeros(n, 2, device=self.device)
        self.block = torch.zeros(n, 2, device=self.device)
        self.lamp_on = torch.ones(n, dtype=torch.bool, device=self.device)  # always lit without a lamp
        self.elapsed_steps = torch.zeros(n, dtype=torch.int32, device=self.device)
        self.returns = torch.zeros(n, device=self.device)
        self.success_once = torch.zeros(n, dtype=torch.bool, device=self.device)

    @property
    def env_id(self) -> str:
        """The id it was made with (``gym.make`` / ``make_env`` set ``spec``)."""
        return self.spec.id if self.spec is not None else f"(unregistered {self.task.kind} task)"

    def _seed(self, seed: int | None) -> None:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**62)
        self.task_gen.manual_seed(seed)
        self.clutter_gen.manual_seed(seed + 0x5EED)
        self.lamp_gen.manual_seed(seed + 0x1A3B)

    # ----------------------------------------------------------------------------------------------- episodes
    def _reset_idx(self, idx: Tensor) -> None:
        """Start new episodes in the envs ``idx`` (LongTensor)."""
        b, g = len(idx), self.task_gen
        start = (torch.rand(b, 2, generator=g, device=self.device) * 2 - 1) * SPAWN_BOUND
        if self.task.kind == "reach":
            self.gripper[idx] = start
            self.goal[idx] = _sample_around(start, *self.task.goal_distance, g)
        else:
            self.block[idx] = start
            self.goal[idx] = _sample_around(start, *self.task.goal_distance, g)
            self.gripper[idx] = _sample_around(start, *self.task.gripper_distance, g)
        self.velocity[idx] = 0
        if self.task.lamp_switch:
            self.lamp_on[idx] = torch.rand(b, generator=self.lamp_gen, device=self.device) < 0.5
        self.elapsed_steps[idx] = 0
        self.returns[idx] = 0
        self.success_once[idx] = False
        self.clutter.reset(idx)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Reset every env; ``seed`` reseeds the env's generators. Returns (obs, info)."""
        if seed is not None:
            self._seed(seed)
            self.clutter.clock = 0
        self._reset_idx(torch.arange(self.num_envs, device=self.device))
        return self._obs(), self._info()

    # ------------------------------------------------------------------------------------------------- physics
    def _move(self, action: Tensor) -> None:
        old = self.gripper
        self.gripper = (self.gripper + MAX_SPEED * action).clamp(-WALL, WALL)
        if self.task.kind == "push":
            reach = GRIPPER_RADIUS + BLOCK_HALF
            d = self.block - self.gripper
            dist = d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            # Contact: shove the block out of overlap along the centre line.
            self.block = torch.where(dist < reach, self.gripper + d / dist * reach, self.block).clamp(-WALL, WALL)
            # A block pinned at the wall stops the gripper instead.
            d = self.gripper - self.block
            dist = d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            self.gripper = torch.where(dist < reach, self.block + d / dist * reach, self.gripper)
        self.velocity = (self.gripper - old) / MAX_SPEED

    def push_pose(self) -> Tensor:
        """(N, 2) where the gripper should stand to push the block straight onto the goal."""
        line = self.goal - self.block
        line = line / line.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return self.block - line * (GRIPPER_RADIUS + BLOCK_HALF)

    def oracle_action(self) -> Tensor:
        """(N, 2) a scripted expert's action, computed from the true state (for tests and demos, not agents).

        Reach: head straight for the goal. Push: walk around the block to the push pose (via a point beside the
        block when starting on the wrong side), then push along the block-to-goal line.
        """
        if self.task.kind == "reach":
            target = self.goal
        else:
            contact = GRIPPER_RADIUS + BLOCK_HALF
            line = self.goal - self.block
            line = line / line.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            rel = self.gripper - self.block
            along = (rel * line).sum(-1, keepdim=True)
            side = rel - along * line
            normal = torch.stack([-line[:, 1], line[:, 0]], -1)
            side = torch.where(side.norm(dim=-1, keepdim=True) > 1e-3, side, normal)
            side = side / side.norm(dim=-1, keepdim=True)
            beside = self.block + side * (contact + 0.1) - line * contact  # detour point, clear of the block
            behind = self.push_pose() - line * 0.02
            push = self.block - line * (contact - 0.05)  # inside the block: moving there shoves it 0.05 forward
            ready = (self.gripper - behind).norm(dim=-1, keepdim=True) < 0.06
            in_contact = (along < -0.8 * contact) & ((side * rel).sum(-1, keepdim=True).abs() < 0.03)
            wrong_side = along > -0.5 * contact
            target = torch.where(ready | in_contact, push, torch.where(wrong_side, beside, behind))
        return ((target - self.gripper) / MAX_SPEED).clamp(-1, 1)

    def _evaluate(self) -> tuple[Tensor, Tensor]:
        """(success (N,) bool, reward (N,) float32)."""
        if self.task.kind == "reach":
            dist = (self.gripper - self.goal).norm(dim=-1)
            reward = 1 - torch.tanh(SHAPING * dist)
        else:
            dist = (self.block - self.goal).norm(dim=-1)
            reach = 1 - torch.tanh(SHAPING * (self.gripper - self.push_pose()).norm(dim=-1))
            reward = (reach + 2 * (1 - torch.tanh(SHAPING * dist))) / 3
        success = dist < GOAL_RADIUS
        reward = success.float() if self.reward_mode == "sparse" else torch.where(success, torch.ones_like(reward),
                                                                                   reward)
        if self.task.lamp_switch:
            reward = torch.where(self.lamp_on, reward, LAMP_OFF_REWARD * reward)
        return success, reward

    # ------------------------------------------------------------------------------------------ observations
    def render(self) -> Tensor | None:
        """(N, S, S, 3) uint8 top-down images of every env (None when ``render_mode`` is None)."""
        return self._draw() if self.render_mode == "rgb_array" else None

    def _draw(self, idx: Tensor | None = None) -> Tensor:
        """(B, S, S, 3) uint8 top-down images of the envs ``idx`` (LongTensor; default all, B = N)."""
        sel = slice(None) if idx is None else idx
        objects = [self.goal, self.block, self.gripper] if self.task.kind == "push" else [self.goal, self.gripper]
        centers = torch.cat([self.clutter.pos[sel], torch.stack(objects, 1)[sel]], 1)
        sprite_ids = torch.cat([self.clutter.sprite_ids[sel], self._task_sprite_ids[sel]], 1)
        task_palette = self._task_palette[sel]
        if self.task.lamp_switch:  # the goal (the first task layer) dark where its lamp is off
            task_palette = task_palette.clone()
            task_palette[:, 0] = torch.where(self.lamp_on[sel], task_palette[:, 0], self._lamp_off_palette)
        palette = torch.cat([self._table[sel], pack(self.clutter.colours[sel]), task_palette], 1)
        return self.raster.draw(centers, sprite_ids, palette, self.clutter.background(idx))

    def prize(self) -> Tensor:
        """(N, 2) image coordinates of what decides the return: the goal (reach), the block-goal midpoint (push)."""
        return self.goal if self.task.kind == "reach" else (self.block + self.goal) / 2

    def prize_parts(self) -> Tensor:
        """(N, 2, 2) image coordinates of the two objects the return depends on: goal and gripper (reach), block and
        goal (push)."""
        return torch.stack([self.goal, self.gripper] if self.task.kind == "reach" else [self.block, self.goal], 1)

    def _obs(self, idx: Tensor | None = None) -> dict[str, Tensor]:
        sel = slice(None) if idx is None else idx
        return {"rgb": self._draw(idx), "state": torch.cat([self.gripper[sel], self.velocity[sel]], 1),
                "prize": self.prize()[sel].clone(), "prize_parts": self.prize_parts()[sel].clone()}

    def _info(self) -> dict:
        return {"success": self._evaluate()[0], "elapsed_steps": self.elapsed_steps.clone()}

    # -------------------------------------------------------------------------------------------------- step
    def step(self, action: Tensor) -> tuple[dict, Tensor, Tensor, Tensor, dict]:
        """Advance every env one step.

        Args:
            action: (N, 2) gripper velocity, clipped to [-1, 1]; GazelabError if any entry is nan or inf.
        Returns:
            obs, reward (N,) float32, terminated (N,) bool, truncated (N,) bool, info (see module docstring).
        """
        action = torch.as_tensor(action, dtype=torch.float32, device=self.device)
        if action.shape != (self.num_envs, 2):
            raise GazelabError(f"action has shape {tuple(action.shape)}; expected ({self.num_envs}, 2)")
        # The clamp below passes NaN through, which would poison positions and rewards until the next reset.
        non_finite = ~torch.isfinite(action).all(1)
        if non_finite.any():
            raise GazelabError(f"{self.env_id}: non-finite action (nan or inf) in envs "
                             f"{torch.nonzero(non_finite).flatten().tolist()}; actions must be finite")
        action = action.clamp(-1, 1)
        self._move(action)
        if self.task.lamp_switch:
            flip = torch.rand(self.num_envs, generator=self.lamp_gen, device=self.device) < self.task.lamp_switch
            self.lamp_on ^= flip
        self.clutter.step()
        self.elapsed_steps += 1
        success, reward = self._evaluate()
        terminated = success
        truncated = self.elapsed_steps >= self.max_episode_steps
        self.returns += reward
        self.success_once |= success
        info = {
            "success": success,
            "elapsed_steps": self.elapsed_steps.clone(),
            "episode": {
                "success_once": self.success_once.clone(),
                "return": self.returns.clone(),
                "episode_len": self.elapsed_steps.clone(),
                "reward": self.returns / self.elapsed_steps,
            },
        }
        obs = self._obs()
        done = terminated | truncated
        if done.any():
            final_obs, final_info = obs, info
            idx = torch.nonzero(done).squeeze(1)
            self._reset_idx(idx)
            # Re-render only the envs that were reset; the others' frames are already current.
            obs = {k: v.clone() for k, v in final_obs.items()}
            for k, v in self._obs(idx).items():
                obs[k][idx] = v
            info = self._info()
            info.update(final_observation=final_obs, final_info=final_info, _final_info=done,
                        _final_observation=done, _elapsed_steps=done)
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """Everything that decides what happens next (positions, counters, generators, clutter), for an exact resume."""
        state = {name: getattr(self, name).clone() for name in _STATE}
        return {**state, "task_gen": self.task_gen.get_state(), "clutter_gen": self.clutter_gen.get_state(),
                "lamp_gen": self.lamp_gen.get_state(), "clutter": self.clutter.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (of an env with the same id, num_envs and options)."""
        for name in _STATE:
            if name == "lamp_on" and name not in state:  # saved before lamps existed: no lamp, always lit
                continue
            setattr(self, name, state[name].to(self.device))
        if "lamp_gen" in state:
            self.lamp_gen.set_state(state["lamp_gen"])
        self.task_gen.set_state(state["task_gen"])
        self.clutter_gen.set_state(state["clutter_gen"])
        self.clutter.load_state_dict(state["clutter"])

    def close(self) -> None:
        """Nothing to release (kept for the vector-env interface)."""

    def __repr__(self) -> str:
        return (f"TabletopEnv({self.env_id!r}, num_envs={self.num_envs}, clutter={self.clutter_level!r}, "
                f"reward_mode={self.reward_mode!r}, "
                f"image_size={self.image_size}, device={self.device})")
