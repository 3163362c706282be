"""Networks of the trainers: the image branch (CNN, attention plug-in, projection) and the actor/critic heads of the
ManiSkill3 baselines.

Data flow (B = batch, C x h x w = the CNN's feature map)::

    rgb (B,H,W,3) uint8 -> CNN -> fmap (B,C,h,w) -> attention -> fmap * weights (B,C,h,w) -> flatten
        -> Linear(C*h*w, 256) + ReLU                                  (ManiSkill NatureCNN projection)
                                                                      = ImageBranch, ``agent.image`` in both agents
        [+ state (B,S): PPO Linear(S, 256) branch as in ppo_rgb; SAC raw concat as in sac_rgbd]
        -> heads (PPO: actor mean / critic MLPs 512; SAC: actor MLP 512-256, two Q MLPs 512-256-1)

Names: an *encoder* is a CNN of :mod:`gazelab.method.encoders` (the config field ``encoder`` says which one, 'nature' or
'fine'; an agent holds its encoder as ``image.cnn``); ``image`` is the whole image branch.

With ``attention="none"`` the weights are all ones and the networks are exactly the baselines' (with the
NatureCNN conv stack; ``encoder="fine"`` swaps in a finer-map CNN, see :mod:`gazelab.method.encoders`).

``gaze_rl_grad`` scales the RL gradients that reach the attention head: 1 (default) passes them unchanged, 0
multiplies the map by *detached* weights (only the contrastive update then trains the head), values in between
scale them. The CNN always learns through the features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions.normal import Normal

from gazelab.core.errors import GazelabError
from gazelab.method.attention import AttentionOutput, make_attention
from gazelab.method.encoders import make_encoder

__all__ = ["ImageBranchOutput", "ImageBranch", "PPOAgent", "SACActor", "SoftQNetwork", "layer_init", "make_mlp",
           "gaussian"]


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Orthogonal weights, constant bias (CleanRL / ManiSkill ppo_rgb)."""
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


def gaussian(mean: Tensor, std: Tensor) -> Normal:
    """The policy's Normal(mean, std), (B, A) each, without torch's argument check: a diverging run's nan means
    then reach its losses, where the trainers' guard names the quantity and the iteration
    (:meth:`gazelab.rl.run.Run.check_finite`), instead of stopping inside torch.distributions."""
    return Normal(mean, std, validate_args=False)


def make_mlp(in_features: int, sizes: list[int], last_act: bool = True) -> nn.Sequential:
    """Linear+ReLU stack (ManiSkill sac_rgbd ``make_mlp``); ``last_act=False`` leaves the last layer linear."""
    layers, width = [], in_features
    for i, size in enumerate(sizes):
        layers.append(nn.Linear(width, size))
        if last_act or i < len(sizes) - 1:
            layers.append(nn.ReLU())
        width = size
    return nn.Sequential(*layers)


@dataclass
class ImageBranchOutput:
    """What :class:`ImageBranch` returns."""

    features: Tensor
    """(B, out_features) projected image features (after attention, flatten, Linear + ReLU; then the fovea's centre
    (B, 2) with ``centre_input``)."""
    fmap: Tensor
    """(B, C, h, w) the CNN's feature map *before* attention (what the contrastive buffer stores, detached)."""
    attention: AttentionOutput
    """The attention module's output (weights (B, h, w); mu/sigma/rho (B, 2)/(B, 2)/(B,) for the gaze)."""


class ImageBranch(nn.Module):
    """The image branch of both agents: CNN -> attention -> flatten -> Linear(C*h*w, feature_dim) + ReLU.

    Args:
        image_size: side of the square input image.
        encoder: 'nature' or 'fine' (see :func:`gazelab.method.encoders.make_encoder`).
        attention: 'none', 'patch', 'gaze' or 'oracle' (see :func:`gazelab.method.attention.make_attention`).
        gaze_rl_grad: scale in [0, 1] of the RL gradients that reach the attention head (bool: 1 or 0).
        feature_dim: width of the projection (256 as in ManiSkill's NatureCNN).
        centre_input: append the fovea's centre mu (B, 2) to the projected features, so the heads read where the eye
            looks as two numbers (the keypoint as an input, as in deep spatial autoencoders) instead of inferring it
            from which cells the weights let through; needs a fovea ('gaze' or 'oracle'). ``out_features`` is then
            ``feature_dim + 2``. RL gradients reach mu through this input scaled by ``gaze_rl_grad`` like the weights.
        **attention_options: keyword arguments of the attention module (e.g. ``head``, ``sigma_max`` of
            :class:`~gazelab.method.attention.GaussianGaze`, in feature-map units); for ``attention="oracle"``, ``sigma``
            is in *image* units and converted to the map here.
    """

    def __init__(self, image_size: int, *, encoder: str = "fine", attention: str = "none",
                 gaze_rl_grad: float = 1.0, feature_dim: int = 256, centre_input: bool = False,
                 **attention_options):
        super().__init__()
        self.cnn = make_encoder(encoder, image_size)
        channels, (h, w) = self.cnn.out_channels, self.cnn.map_size
        if attention == "oracle" and "sigma" in attention_options:
            image_units_per_map_unit = self.cnn.map_geometry()[0].mean().item()
            attention_options = {**attention_options, "sigma": attention_options["sigma"] / image_units_per_map_unit}
        self.attention = make_attention(attention, channels, **attention_options)
        self.attention_kind = attention
        self.gaze_rl_grad = float(gaze_rl_grad)
        if centre_input and attention not in ("gaze", "oracle"):
            raise GazelabError(f"centre_input=True needs a fovea with a centre (attention 'gaze' or 'oracle'), got "
                               f"attention={attention!r}")
        self.centre_input = bool(centre_input)
        self.projection = nn.Sequential(nn.Linear(channels * h * w, feature_dim), nn.ReLU())
        self.feature_shape = (channels, h, w)
        self.out_features = feature_dim + (2 if centre_input else 0)

    def see(self, obs: dict[str, Tensor]) -> ImageBranchOutput:
        """The branch on an observation: its ``rgb``, and for the oracle fovea the privileged target it needs
        (``prize``, or ``prize_parts`` with two foveae)."""
        return self(obs["rgb"], obs.get(getattr(self.attention, "target_key", "prize")))

    def forward(self, rgb: Tensor, prize: Tensor | None = None) -> ImageBranchOutput:
        """rgb (B, H, W, 3) uint8 -> :class:`ImageBranchOutput` with features (B, out_features).

        ``prize`` (B, 2), or (B, 2, 2) for the two-fovea oracle: the env's privileged target(s) in image
        coordinates, read only by the oracle fovea.
        """
        fmap = self.cnn(rgb)
        if self.attention_kind == "oracle":
            att = self.attention(fmap, None if prize is None else self.cnn.image_to_map(prize.float()))
        else:
            att = self.attention(fmap)
        if self.gaze_rl_grad == 1.0:
            attended = att.features
        else:
            attended = fmap * self._scale_rl_grad(att.weights)[:, None]
        features = self.projection(attended.flatten(1))
        if self.centre_input:
            features = torch.cat([features, self._scale_rl_grad(att.mu)], dim=1)
        return ImageBranchOutput(features, fmap, att)

    def _scale_rl_grad(self, tensor: Tensor) -> Tensor:
        """``tensor`` unchanged in the forward pass; in the backward pass its gradient times ``gaze_rl_grad``."""
        if self.gaze_rl_grad == 1.0:
            return tensor
        if self.gaze_rl_grad == 0.0:
            return tensor.detach()
        return tensor.detach() + self.gaze_rl_grad * (tensor - tensor.detach())


class PPOAgent(nn.Module):
    """ManiSkill3 ``ppo_rgb`` Agent with an attention plug-in.

    Latent = cat(image features (B, 256), Linear(S, 256)(state)) when ``include_state`` (ppo_rgb's NatureCNN
    extractor dict); critic and actor mean are Linear(latent, 512) + ReLU + Linear; a state-independent
    log-std parameter (init -0.5).

    Args:
        image_size: image side; state_dim: S; action_dim: A.
        encoder, attention, gaze_rl_grad, attention_options (and ``centre_input``): see :class:`ImageBranch`.
        include_state: add the state branch.
    """

    def __init__(self, image_size: int, state_dim: int, action_dim: int, *, encoder: str = "fine",
                 attention: str = "none", gaze_rl_grad: float = 1.0, include_state: bool = True,
                 **attention_options):
        super().__init__()
        self.image = ImageBranch(image_size, encoder=encoder, attention=attention, gaze_rl_grad=gaze_rl_grad,
                                  **attention_options)
        self.state = nn.Linear(state_dim, 256) if include_state else None
        latent = self.image.out_features + (256 if include_state else 0)
        self.critic = nn.Sequential(layer_init(nn.Linear(latent, 512)), nn.ReLU(inplace=True),
                                    layer_init(nn.Linear(512, 1)))
        self.actor_mean = nn.Sequential(layer_init(nn.Linear(latent, 512)), nn.ReLU(inplace=True),
                                        layer_init(nn.Linear(512, action_dim), std=0.01 * np.sqrt(2)))
        self.actor_logstd = nn.Parameter(torch.ones(1, action_dim) * -0.5)

    def get_features(self, obs: dict[str, Tensor]) -> tuple[Tensor, ImageBranchOutput]:
        """obs {'rgb': (B,H,W,3) uint8, 'state': (B,S)} -> latent (B, 256 or 512), the image branch's output."""
        image = self.image.see(obs)
        if self.state is None:
            return image.features, image
        return torch.cat([image.features, self.state(obs["state"])], dim=1), image

    def get_value(self, obs: dict[str, Tensor]) -> Tensor:
        """(B, 1) state values."""
        return self.critic(self.get_features(obs)[0])

    def act(self, obs: dict[str, Tensor]) -> tuple[Tensor, AttentionOutput]:
        """Deterministic policy for evaluation: (action mean (B, A), the attention that produced it)."""
        x, image = self.get_features(obs)
        return self.actor_mean(x), image.attention

    def get_action_and_value(self, obs: dict[str, Tensor], action: Tensor | None = None):
        """-> action (B, A), log-prob (B,), entropy (B,), value (B, 1), the image branch's output (a sampled action
        if ``action`` is None)."""
        x, image = self.get_features(obs)
        action_mean = self.actor_mean(x)
        probs = gaussian(action_mean, torch.exp(self.actor_logstd.expand_as(action_mean)))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x), image


LOG_STD_MAX = 2
LOG_STD_MIN = -5


class SACActor(nn.Module):
    """ManiSkill3 ``sac_rgbd`` Actor (owns the image branch the critics share), with an attention plug-in.

    mlp = make_mlp(256 + S, [512, 256]) on cat(image features, state); tanh-squashed Gaussian with log-std
    squashed into [LOG_STD_MIN, LOG_STD_MAX]; actions rescaled to the action box.

    Args:
        image_size, state_dim, action_dim: shapes.
        action_low, action_high: (A,) bounds of the action box.
        encoder, attention, gaze_rl_grad, attention_options (and ``centre_input``): see :class:`ImageBranch`.
        include_state: concatenate the state to the image features (sac_rgbd always does).
    """

    def __init__(self, image_size: int, state_dim: int, action_dim: int, action_low, action_high, *,
                 encoder: str = "fine", attention: str = "none", gaze_rl_grad: float = 1.0,
                 include_state: bool = True, **attention_options):
        super().__init__()
        self.image = ImageBranch(image_size, encoder=encoder, attention=attention, gaze_rl_grad=gaze_rl_grad,
                                 **attention_options)
        self.include_state = include_state
        self.state_dim = state_dim if include_state else 0
        self.mlp = make_mlp(self.image.out_features + self.state_dim, [512, 256], last_act=True)
        self.fc_mean = nn.Linear(256, action_dim)
        self.fc_logstd = nn.Linear(256, action_dim)
        low, high = torch.as_tensor(action_low, dtype=torch.float32), torch.as_tensor(action_high, dtype=torch.float32)
        self.register_buffer("action_scale", (high - low) / 2.0)
        self.register_buffer("action_bias", (high + low) / 2.0)

    def state_input(self, obs: dict[str, Tensor]) -> Tensor:
        """(B, S) state, or (B, 0) without include_state."""
        return obs["state"] if self.include_state else obs["rgb"].new_zeros(obs["rgb"].shape[0], 0, dtype=torch.float32)

    def forward(self, obs: dict[str, Tensor], visual_feature: Tensor | None = None):
        """-> mean (B, A), log_std (B, A), visual_feature (B, 256), the image branch's output or None (if features
        were given)."""
        image = None
        if visual_feature is None:
            image = self.image.see(obs)
            visual_feature = image.features
        x = self.mlp(torch.cat([visual_feature, self.state_input(obs)], dim=1))
        mean = self.fc_mean(x)
        log_std = torch.tanh(self.fc_logstd(x))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)  # From SpinUp / Denis Yarats
        return mean, log_std, visual_feature, image

    def act(self, obs: dict[str, Tensor]) -> tuple[Tensor, AttentionOutput]:
        """Deterministic policy for evaluation: (tanh(mean) rescaled (B, A), the attention that produced it)."""
        mean, _, _, image = self(obs)
        return torch.tanh(mean) * self.action_scale + self.action_bias, image.attention

    def get_action(self, obs: dict[str, Tensor], visual_feature: Tensor | None = None):
        """-> action (B, A) (reparameterized sample), log_prob (B, 1), mean action (B, A), visual_feature, the image
        branch's output."""
        mean, log_std, visual_feature, image = self(obs, visual_feature)
        normal = gaussian(mean, log_std.exp())
        x_t = normal.rsample()  # reparameterization trick (mean + std * N(0,1))
        y_t = torch.tanh(x_t)
        action = y_t * self.action_scale + self.action_bias
        log_prob = normal.log_prob(x_t)
        log_prob -= torch.log(self.action_scale * (1 - y_t.pow(2)) + 1e-6)  # enforcing the action bound
        log_prob = log_prob.sum(1, keepdim=True)
        mean = torch.tanh(mean) * self.action_scale + self.action_bias
        return action, log_prob, mean, visual_feature, image


class SoftQNetwork(nn.Module):
    """ManiSkill3 ``sac_rgbd`` SoftQNetwork: make_mlp(256 + S + A, [512, 256, 1]) on cat(features, state, action).

    It takes the visual features computed by the actor's (shared) image branch, so it holds no CNN itself.
    """

    def __init__(self, feature_dim: int, state_dim: int, action_dim: int):
        super().__init__()
        self.mlp = make_mlp(feature_dim + state_dim + action_dim, [512, 256, 1], last_act=False)

    def forward(self, visual_feature: Tensor, state: Tensor, action: Tensor) -> Tensor:
        """(B, F), (B, S), (B, A) -> Q (B, 1)."""
        return self.mlp(torch.cat([visual_feature, state, action], dim=1))
