"""CURL's instance contrast as an auxiliary loss on the CNN: the hybrid of the paper's third open question.

CURL (Laskin, Srinivas & Abbeel, 2020) asks the encoder to tell each image from the other images of a batch, from
two random shifts of it: a query from the encoder being trained, a key from a slowly moving copy of it (momentum,
``tau``), scored by a bilinear product ``q^T W k``; InfoNCE is the cross-entropy of picking the image's own key
among the batch's keys. The return-guided gaze asks *where* to look; CURL asks the features to keep whatever
identifies an image. Together (``curl_coef > 0`` with ``gaze+contrastive``) they are the hybrid the paper leaves
open; alone (with ``none``) CURL is the reviewers' baseline.

Here the contrast is on the CNN's feature map (before the attention), flattened and projected to ``dim``
numbers with LayerNorm, as CURL's encoder head. The trainer takes a step of CURL's own optimizer (its CNN, head and
W; learning rate ``curl_coef`` times the rate that trains the CNN) on the loss after each of its own gradient steps:
PPO after each minibatch's step (:mod:`gazelab.rl.ppo`), SAC after each critic step (:mod:`gazelab.rl.sac`, CURL's
own setting). So the CNN learns from both, and the key encoder follows after every CURL step.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn, optim

from gazelab.core.checks import check_int, check_number
from gazelab.rl.augment import random_shift
from gazelab.rl.config import TrainConfig

__all__ = ["InstanceContrast", "curl_for"]


class InstanceContrast(nn.Module):
    """CURL's query head, bilinear score and momentum key encoder for one CNN.

    Args:
        cnn: the agent's CNN (its map (B, C, h, w) is contrasted); the key encoder starts as a copy of it.
        dim: width of the projected code (CURL: 50).
        tau: momentum of the key encoder, ``key <- (1 - tau) key + tau query`` after each step (CURL: 0.05).
        pad: largest random shift in pixels of each view (CURL's random crop; DrQ-v2's shift: 4).
        seed: seed of the head's initialisation, drawn from a generator of its own: adding CURL to a run changes
            neither the agent's initialisation nor the random stream of its rollouts (paired seeds stay paired).
    """

    def __init__(self, cnn: nn.Module, *, dim: int = 50, tau: float = 0.05, pad: int = 4, seed: int = 0):
        super().__init__()
        check_int("dim", dim, 1)
        self.tau = check_number("tau", tau, 0, 1, low_open=True)
        self.pad = check_int("pad", pad, 1)
        channels, (h, w) = cnn.out_channels, cnn.map_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Sequential(nn.Linear(channels * h * w, dim), nn.LayerNorm(dim))
        # W starts as the identity (the score a dot product of the codes). CURL draws it uniformly in [0, 1]: the
        # first logits are then ~dim times larger, and here the codes collapsed to chance for ~50 steps first.
        self.bilinear = nn.Parameter(torch.eye(dim))
        self.key_cnn = copy.deepcopy(cnn).requires_grad_(False)
        self.key_head = copy.deepcopy(self.head).requires_grad_(False)

    def trainable(self) -> list[nn.Parameter]:
        """The parameters CURL's optimizer trains beside the CNN (the query head and W; the key encoder only follows)."""
        return [*self.head.parameters(), self.bilinear]

    def loss(self, cnn: nn.Module, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """InfoNCE of a batch ``rgb`` (B, H, W, 3) uint8 -> (loss (), accuracy ()): the share of images whose own key
        scores highest among the batch's B keys (chance 1/B)."""
        query_view, _ = random_shift(rgb, self.pad)
        key_view, _ = random_shift(rgb, self.pad)
        query = self.head(cnn(query_view).flatten(1))  # (B, dim)
        with torch.no_grad():
            key = self.key_head(self.key_cnn(key_view).flatten(1))  # (B, dim)
        logits = query @ self.bilinear @ key.T  # (B, B): row i scores image i's query against every key
        logits = logits - logits.max(dim=1, keepdim=True).values  # CURL's shift, for a stable softmax
        labels = torch.arange(len(rgb), device=rgb.device)
        return nn.functional.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()

    def step(self, cnn: nn.Module, rgb: Tensor, optimizer: optim.Optimizer) -> tuple[Tensor, Tensor]:
        """One CURL step on a batch ``rgb`` (B, H, W, 3) uint8: the loss, a step of CURL's own ``optimizer``, then the
        key encoder follows -> (loss (), accuracy ()) as :meth:`loss`."""
        loss, accuracy = self.loss(cnn, rgb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        self.follow(cnn)
        return loss.detach(), accuracy

    @torch.no_grad()
    def follow(self, cnn: nn.Module) -> None:
        """Move the key encoder a step ``tau`` towards the query encoder (the agent's CNN and the query head)."""
        for key_module, module in ((self.key_cnn, cnn), (self.key_head, self.head)):
            for key, value in zip(key_module.parameters(), module.parameters()):
                key.lerp_(value, self.tau)
            for key, value in zip(key_module.buffers(), module.buffers()):
                key.copy_(value)


def curl_for(config: TrainConfig, cnn: nn.Module, lr: float, device: torch.device | str,
             **adam: float) -> tuple[InstanceContrast | None, optim.Adam | None]:
    """A trainer's CURL, or ``(None, None)`` when ``config.curl_coef`` is 0.

    Args:
        config: the run's :class:`gazelab.rl.config.TrainConfig` (``curl_coef``, ``curl_dim``, ``curl_tau``,
            ``augment_pad``, ``seed``).
        cnn: the agent's CNN, the one the RL loss trains.
        lr: the learning rate that trains that CNN (PPO's ``learning_rate``, SAC's ``q_lr``); CURL's Adam steps at
            ``curl_coef * lr``.
        device: where the head and key encoder live.
        adam: further arguments of the trainer's own Adam (e.g. PPO's ``eps=1e-5``).

    CURL steps with an Adam of its own (the CNN, head and W), as CURL does: inside PPO's loss under PPO's one gradient
    clip it crowded out PPO's gradient and no policy learned (docs/evidence.md, 2026-12-07).
    """
    if config.curl_coef <= 0:
        return None, None
    curl = InstanceContrast(cnn, dim=config.curl_dim, tau=config.curl_tau, pad=config.augment_pad,
                            seed=config.seed).to(device)
    # fused=True: the same Adam update in one kernel (the default per-tensor loop is far slower on CPU)
    return curl, optim.Adam([*cnn.parameters(), *curl.trainable()], lr=config.curl_coef * lr, fused=True, **adam)
