"""Visual clutter for the built-in tasks: moving distractor shapes and a moving background texture.

Clutter is pure decoration: it has its own random generator, never reads the agent's actions and never enters
the reward, success or dynamics. The same seed and the same actions therefore give identical rewards on the
clean and the cluttered variant of a task; only the pixels differ. That makes "does attention help when most
pixels are irrelevant?" a controlled experiment.

Clutter *distracts* but never *deceives*: in the graded levels every distractor has a colour far from every task
colour (at least ``MIN_COLOUR_DISTANCE`` in RGB), so one frame always shows unambiguously where the gripper, the
goal and the block are. Only most pixels stop mattering, which is the premise of foveal attention.

The graded ladder (name or int):
    none (0)    plain table colour.
    mild (1)    a faint moving plaid and 3 slow shapes.
    medium (2)  a stronger plaid and 6 shapes up to twice the task objects' size.
    heavy (3)   a strong plaid plus per-episode pixel noise that scrolls, and 12 fast shapes of task-object size.
                (Plaid amplitude 45 and 5 noise bits: measured, the background then stays >= 85 in RGB from
                every task colour; at 60 and 6 bits a sixth of the episodes showed goal-green stripes.)

And levels outside the ladder, by name only:
    mild-scenes mild, but every episode replays one of 4 fixed scenes (``ClutterSpec.scenes``): the clutter no longer
                tells one episode from another. The variant where the contrastive method's premise holds (similar
                frames of different episodes differ where the outcome is decided), beside ``mild`` where it fails.
    lookalike   medium, but half the distractors copy a task colour (a moving green disc next to the static
                goal). A memoryless policy cannot tell the goal from its twin in one frame: that is partial
                observability, which no attention fixes. It teaches the limit; it is no default anywhere.

Transfer levels (``TRANSFER_LEVELS``): mild with one thing changed, for evaluating a policy trained on ``mild`` on
clutter it never saw (``benchmarks/generalisation.py``); as non-deceptive as the ladder:
    mild-table    a lavender table instead of the beige one (other colours everywhere behind the objects).
    mild-crowded  three times as many shapes (9), mild's sizes and speed.
    mild-grain    a new background: per-episode pixel noise (4 bits) scrolling over mild's plaid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from gazelab.envs.raster import DISC, SQUARE, pack
from gazelab.core.errors import GazelabError


@dataclass(frozen=True)
class ClutterSpec:
    """One clutter level."""

    num_shapes: int
    """Number of distractor shapes per image."""
    task_colour_share: float
    """Probability that a distractor copies the colour of a task object (gripper, block or goal): 0 in the graded
    levels; the others get random colours at least ``MIN_COLOUR_DISTANCE`` away from every task colour."""
    radii: tuple[float, ...]
    """Distractor sizes to choose from (disc radius / square half-side, in [-1, 1] image units)."""
    speed: float
    """Distractor speed in image units per step (they bounce off the image border)."""
    texture_amplitude: float
    """Amplitude of the moving plaid background, in 0..255 colour units (0 = plain table)."""
    noise_bits: int
    """Per-episode pixel noise: this many random low bits per channel are XORed into the background (0 = none;
    6 bits = colour jumps up to 63). The noise pattern scrolls one pixel per step."""
    scenes: int = 0
    """0: every episode draws its own distractors and texture, so the clutter identifies the episode anywhere in the
    frame. S > 0: every episode replays one of S fixed scenes (the same start and motion of the distractors and the
    texture, chosen at random per episode): look-alike frames of different episodes then differ only in the task
    objects, as in a ManiSkill scene that stays the same while only the task objects move."""
    table_colour: tuple[int, int, int] | None = None
    """(r, g, b) of the plain table under the texture; None: the task's own (``tabletop.TABLE_COLOUR``)."""


CLUTTER_LEVELS: dict[str, ClutterSpec] = {
    "none": ClutterSpec(0, 0.0, (), 0.0, 0.0, 0),
    "mild": ClutterSpec(3, 0.0, (0.12, 0.16, 0.2), 0.02, 15.0, 0),
    "medium": ClutterSpec(6, 0.0, (0.1, 0.14, 0.18, 0.22), 0.04, 35.0, 0),
    "heavy": ClutterSpec(12, 0.0, (0.08, 0.1, 0.12, 0.14), 0.06, 45.0, 5),
    "mild-scenes": ClutterSpec(3, 0.0, (0.12, 0.16, 0.2), 0.02, 15.0, 0, scenes=4),
    "lookalike": ClutterSpec(6, 0.5, (0.1, 0.14, 0.18, 0.22), 0.04, 35.0, 0),
    "mild-table": ClutterSpec(3, 0.0, (0.12, 0.16, 0.2), 0.02, 15.0, 0, table_colour=(175, 155, 205)),
    "mild-crowded": ClutterSpec(9, 0.0, (0.12, 0.16, 0.2), 0.02, 15.0, 0),
    "mild-grain": ClutterSpec(3, 0.0, (0.12, 0.16, 0.2), 0.02, 15.0, 4),
}
CLUTTER_NAMES = tuple(CLUTTER_LEVELS)
ClutterName = Literal[CLUTTER_NAMES]
"""The names as a type (config fields and the command line offer exactly these)."""
CLUTTER_LADDER = ("none", "mild", "medium", "heavy")
"""The graded levels, quietest first (what ``clutter=0..3`` means); ``mild-scenes`` and ``lookalike`` stand outside."""
TRANSFER_LEVELS = ("mild-table", "mild-crowded", "mild-grain")
"""Mild with one thing changed (table colour, number of shapes, background grain): clutter a policy trained on
``mild`` never saw."""
MIN_COLOUR_DISTANCE = 100.0
"""Smallest RGB distance (0..441) between a random distractor colour and any task colour. At 100 a distractor can
be the goal's size and move near it, but a green one is never a plausible goal."""
_STATE = ("pos", "vel", "sprite_ids", "colours", "freq", "phase", "omega", "tint", "noise")
"""The tensors that hold the clutter's state (``noise`` is None without pixel noise)."""
SCENES_SEED = 0x5CE7E5
"""Seed of the fixed scenes of a level with ``scenes > 0``."""
_COLOUR_TRIES = 32  # candidates per distractor colour; about half are rejected, so all 32 failing is ~1e-10


def clutter_level(level: str | int) -> str:
    """Normalise a clutter level given as name or ladder index (0..3) to its name; GazelabError otherwise."""
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level < len(CLUTTER_LADDER):
        return CLUTTER_LADDER[level]
    if isinstance(level, str) and level in CLUTTER_LEVELS:
        return level
    raise GazelabError(f"clutter={level!r} is not a level; use one of {CLUTTER_NAMES} or 0..{len(CLUTTER_LADDER) - 1}")


class Clutter:
    """State and drawing of the distractors for a batch of ``num_envs`` images.

    Args:
        spec: the clutter level.
        num_envs: batch size N.
        size: image side in pixels.
        table_colour: (3,) uint8 plain background colour.
        task_colours: (T, 3) uint8 colours of the task objects (copied by look-alike distractors).
        generator: torch.Generator used for all clutter randomness (separate from the task's).
        sprite_offset: index of the first distractor sprite in the renderer's sprite list.
    """

    def __init__(self, spec: ClutterSpec, num_envs: int, size: int, table_colour: Tensor, task_colours: Tensor,
                 generator: torch.Generator, sprite_offset: int):
        self.spec = spec
        self.num_envs = num_envs
        self.size = size
        self.device = table_colour.device
        self.table_colour = table_colour
        self.task_colours = task_colours
        self.gen = generator
        self.sprite_offset = sprite_offset
        n, k = num_envs, spec.num_shapes
        self.pos = torch.zeros(n, k, 2, device=self.device)  # (N, K, 2) centres in [-1, 1]
        self.vel = torch.zeros(n, k, 2, device=self.device)  # (N, K, 2) units per step
        self.sprite_ids = torch.zeros(n, k, dtype=torch.long, device=self.device)  # (N, K)
        self.colours = torch.zeros(n, k, 3, dtype=torch.uint8, device=self.device)  # (N, K, 3)
        self.freq = torch.zeros(n, 2, device=self.device)  # plaid spatial frequency (x, y), rad per unit
        self.phase = torch.zeros(n, 2, device=self.device)  # plaid phase (x, y)
        self.omega = torch.zeros(n, 2, device=self.device)  # plaid drift, rad per step
        self.tint = torch.zeros(n, 2, 3, device=self.device)  # plaid colour direction of the x and y waves
        self.noise = (torch.zeros(n, size, size, dtype=torch.int32, device=self.device)  # packed XOR masks
                      if spec.noise_bits > 0 else None)
        self.clock = 0  # global step counter driving the scrolling noise
        # The fixed scenes (spec.scenes > 0) come from a generator of their own with a constant seed: the same S
        # scenes for every env seed, as a ManiSkill scene is the same whatever the seed.
        self.scenes = (self._draw(spec.scenes, torch.Generator(device=self.device).manual_seed(SCENES_SEED))
                       if spec.scenes else {})

    @property
    def sprites(self) -> list[tuple[int, float]]:
        """The (kind, radius) sprites the distractors draw from; sprite i <-> kind i % 2, radius radii[i // 2]."""
        return [(kind, r) for r in self.spec.radii for kind in (DISC, SQUARE)]

    def reset(self, idx: Tensor) -> None:
        """Draw new distractors and texture for the envs in ``idx`` (LongTensor of env indices), or with fixed
        scenes give each of them one of the scenes (chosen with the clutter's generator)."""
        if self.spec.scenes:
            which = torch.randint(0, self.spec.scenes, (len(idx),), generator=self.gen, device=self.device)
            drawn = {name: value[which] for name, value in self.scenes.items()}
        else:
            drawn = self._draw(len(idx), self.gen)
        for name, value in drawn.items():
            getattr(self, name)[idx] = value

    def _draw(self, b: int, gen: torch.Generator) -> dict[str, Tensor]:
        """Fresh distractors and texture for b images, drawn from ``gen``: {state name: (b, ...) tensor}."""
        rand = lambda *shape: torch.rand(*shape, generator=gen, device=self.device)  # noqa: E731
        k, out = self.spec.num_shapes, {}
        if k > 0:
            out["pos"] = rand(b, k, 2) * 2 - 1
            angle = rand(b, k) * 2 * math.pi
            out["vel"] = self.spec.speed * torch.stack([angle.cos(), angle.sin()], -1)
            num_sprites = len(self.sprites)
            out["sprite_ids"] = self.sprite_offset + (rand(b, k) * num_sprites).long().clamp_max(num_sprites - 1)
            random_colour = self._distinct_colours(rand(b, k, _COLOUR_TRIES, 3))
            which = (rand(b, k) * len(self.task_colours)).long().clamp_max(len(self.task_colours) - 1)
            jitter = (rand(b, k, 3) - 0.5) * 30  # look-alikes are close to, not exactly, the task colour
            lookalike = (self.task_colours[which].float() + jitter).clamp(0, 255)
            use_task = rand(b, k, 1) < self.spec.task_colour_share
            out["colours"] = torch.where(use_task, lookalike, random_colour).to(torch.uint8)
        if self.spec.texture_amplitude > 0:
            out["freq"] = 2 + rand(b, 2) * 5
            out["phase"] = rand(b, 2) * 2 * math.pi
            out["omega"] = (rand(b, 2) - 0.5) * 0.6
            tint = torch.randn(b, 2, 3, generator=gen, device=self.device)
            out["tint"] = tint / tint.norm(dim=-1, keepdim=True)
        if self.noise is not None:
            bits = torch.randint(0, 2**self.spec.noise_bits, (b, self.size, self.size, 3), generator=gen,
                                 device=self.device, dtype=torch.uint8)
            out["noise"] = pack(bits)
        return out

    def _distinct_colours(self, uniform: Tensor) -> Tensor:
        """(b, k, 3) float random colours in [20, 235]^3, each at least MIN_COLOUR_DISTANCE from every task colour,
        from uniform draws (b, k, _COLOUR_TRIES, 3).

        Vectorised rejection sampling: ``_COLOUR_TRIES`` candidates per colour, the first far enough wins; a colour
        with none (never seen) falls back to mid-grey, which is far from all task colours.
        """
        b, k = uniform.shape[:2]
        candidates = (20 + uniform * 215).floor()  # whole numbers: what uint8 stores
        gap = torch.cdist(candidates.view(-1, 3), self.task_colours.float()).min(1).values.view(b, k, _COLOUR_TRIES)
        ok = gap >= MIN_COLOUR_DISTANCE
        first = ok.float().argmax(-1, keepdim=True)  # (b, k, 1): the first acceptable candidate (0 if none)
        chosen = torch.gather(candidates, 2, first[..., None].expand(b, k, 1, 3))[:, :, 0]
        return torch.where(ok.any(-1, keepdim=True), chosen, torch.full_like(chosen, 128.0))

    def state_dict(self) -> dict:
        """The distractors' and the texture's state (the generator is the env's, saved by the env)."""
        state = {name: getattr(self, name).clone() for name in _STATE if getattr(self, name) is not None}
        return {**state, "clock": self.clock}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        for name in _STATE:
            if name in state:
                setattr(self, name, state[name].to(self.device))
        self.clock = int(state["clock"])

    def step(self) -> None:
        """Advance the distractors one step (bouncing off the border) and the texture clock."""
        self.clock += 1
        if self.spec.num_shapes > 0:
            pos = self.pos + self.vel
            out = pos.abs() > 1
            self.pos = torch.where(out, pos.sign() * 2 - pos, pos)  # reflect about the border
            self.vel = torch.where(out, -self.vel, self.vel)
        if self.spec.texture_amplitude > 0:
            self.phase = self.phase + self.omega

    def background(self, idx: Tensor | None = None) -> Tensor | None:
        """(B, H*W) int32 packed colours (``raster.pack``) of the textured table for the envs ``idx`` (default
        all), or None for the plain table colour."""
        if self.spec.texture_amplitude == 0:
            return None
        sel = slice(None) if idx is None else idx
        freq, phase, tint = self.freq[sel], self.phase[sel], self.tint[sel]
        grid = torch.linspace(-1, 1, self.size, device=self.device)
        wave = torch.sin(freq[:, :, None] * grid + phase[:, :, None])  # (B, 2, S): x wave, y wave
        amp = self.spec.texture_amplitude
        # The plaid is a column profile plus a row profile. Keeping the row part in [0, 2*amp*|tint|] and the
        # column part in [0, 255 - that] means no colour byte ever carries, so the two profiles can be added as
        # packed int32 words: one broadcast add over N*H*W words builds the whole texture.
        row_span = 2 * amp * tint[:, 1].abs()  # (B, 3)
        rows = amp * (wave[:, 1, :, None] + 1) * tint[:, 1, None, :].abs()  # (B, S, 3) in [0, row_span]
        rows = torch.where(tint[:, 1, None, :] < 0, row_span[:, None] - rows, rows)  # keep the tint's sign
        cols = self.table_colour.float() - row_span[:, None] / 2 + amp * wave[:, 0, :, None] * tint[:, 0, None, :]
        cols = torch.minimum(cols.clamp_min(0), 255 - row_span[:, None])
        img = pack(cols.to(torch.uint8))[:, None, :] + pack(rows.to(torch.uint8))[:, :, None]  # (B, S, S)
        if self.noise is not None:
            img = img ^ torch.roll(self.noise[sel], shifts=self.clock % self.size, dims=2)
        return img.view(img.shape[0], -1)
