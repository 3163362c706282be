"""SAC from pixels, as ManiSkill3's ``examples/baselines/sac/sac_rgbd.py`` (CleanRL style), with a gaze plug-in.

The algorithm is :func:`train_sac`, one function, read top to bottom. Each iteration:

1. **Collect** ``training_freq`` environment steps (``training_freq // num_envs`` per env): uniform random
   actions until ``learning_starts``, then samples of the tanh-Gaussian actor. Transitions go to a replay
   buffer; with ``bootstrap_at_done="always"`` (the default) episode ends never stop the bootstrap and the
   final observation is stored as next observation.
2. **Update** ``int(training_freq * utd)`` gradient steps (update-to-data ratio ``utd``) on minibatches of
   ``batch_size``:

   * critic: twin soft Q-networks on cat(image features, state, action); target ``r + gamma * (1 - stop) *
     (min Q_target(s', a') - alpha log pi(a'|s'))`` with a' from the current actor; the shared image encoder
     is trained by this loss (the Q optimizer holds the encoder's parameters);
   * actor (every ``policy_frequency`` steps): ``alpha log pi - min Q`` where the Q-networks see *detached*
     image features, so the actor loss does not shape the encoder through the critics. As in sac_rgbd, the
     actor's own MLP path to the encoder is not detached and the actor optimizer holds all actor parameters,
     encoder included;
   * temperature (``autotune``): ``-exp(log_alpha) (log pi + target_entropy)``, target entropy = -|A|;
   * Polyak averaging of the Q-heads (``tau``) every ``target_network_frequency`` steps (the target critics
     use the online encoder's features, as in sac_rgbd where the targets share the actor's encoder).
3. **Gaze plug-in** (``contrastive=True``): the detached feature map of every observation the actor saw is
   kept per env with its reward until the episode ends; then the episode's maps go to the contrastive buffer
   with their *discounted return-to-go* ``G_t = r_t + gamma G_{t+1}`` (no bootstrap at the time limit: the
   return of what actually happened), and the contrastive update trains the attention head.

With ``attention="none"`` and ``contrastive=False`` this is sac_rgbd with its defaults, except: the image encoder
is NatureCNN / the fine variant instead of sac_rgbd's ``PlainConv`` (whose 2x2 map at 64x64 leaves no room for a
fovea); the replay sampler draws rows from the filled per-env length (sac_rgbd draws from ``buffer_size`` once
full, an index error whenever num_envs > 1); the ManiSkill default replay size is 100k (sac_rgbd's 1M 128x128
images need ~47 GB); evaluation counts whole episodes every ``eval_freq`` iterations.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F
import torch.optim as optim
from torch import Tensor

from gazelab.agent import SACActor, SoftQNetwork
from gazelab.evaluate import evaluate_policy
from gazelab.prize import GazeTracker
from gazelab.training import (
    ContrastivePlugin,
    Run,
    TrainConfig,
    TrainResult,
    check_int,
    env_state,
    is_builtin,
    launch,
    set_env_state,
    set_rng_state,
)

__all__ = ["SACConfig", "train_sac", "TASK_DEFAULTS", "build_agent", "ReplayBuffer"]

# sac_rgbd.py's Args defaults, for every field a task does not override.
BASE_DEFAULTS: dict[str, Any] = dict(total_timesteps=1_000_000, num_envs=16, buffer_size=100_000, batch_size=512,
                                     learning_starts=4_000, utd=0.25, eval_freq=25, checkpoint_every=100)
# The built-in tasks on a 2-core CPU: smaller batches and fewer gradient steps per environment step, or a pixel
# SAC update would run at a few environment steps per second.
_BUILTIN = dict(total_timesteps=50_000, buffer_size=50_000, batch_size=128, learning_starts=2_000, utd=0.125,
                eval_freq=50, checkpoint_every=50)
TASK_DEFAULTS: dict[str, dict[str, Any]] = {env_id: dict(_BUILTIN) for env_id in (
    "gazelab/Reach-v0", "gazelab/ReachClutter-v0", "gazelab/ReachFar-v0", "gazelab/ReachFarClutter-v0",
    "gazelab/Push-v0", "gazelab/PushClutter-v0")}


@dataclass
class SACConfig(TrainConfig):
    """SAC hyper-parameters (ManiSkill3 sac_rgbd names and defaults) + the shared fields of TrainConfig."""

    buffer_size: Optional[int] = None
    """the replay memory buffer size (None = per-task default; 64x64 obs + next obs take 24 KB per transition)"""
    buffer_device: Optional[str] = None
    """where the replay buffer is stored: 'cpu' or 'cuda' (None = the training device)"""
    gamma: float = 0.8
    """the discount factor gamma"""
    tau: float = 0.01
    """target smoothing coefficient"""
    batch_size: Optional[int] = None
    """the batch size of sample from the replay memory (None = per-task default)"""
    learning_starts: Optional[int] = None
    """timestep to start learning (None = per-task default)"""
    policy_lr: float = 3e-4
    """the learning rate of the policy network optimizer"""
    q_lr: float = 3e-4
    """the learning rate of the Q network network optimizer"""
    policy_frequency: int = 1
    """the frequency of training policy (delayed)"""
    target_network_frequency: int = 1
    """the frequency of updates for the target networks"""
    alpha: float = 0.2
    """Entropy regularization coefficient (without autotune; with autotune log_alpha starts at 0 as in sac_rgbd)"""
    autotune: bool = True
    """automatic tuning of the entropy coefficient"""
    training_freq: int = 64
    """training frequency (in steps): environment steps (all envs together) per iteration"""
    utd: Optional[float] = None
    """update to data ratio: gradient steps per environment step (None = per-task default)"""
    partial_reset: bool = False
    """ManiSkill: reset envs when they terminate (False: run to the time limit). Built-in tasks always reset"""
    bootstrap_at_done: Literal["always", "never", "truncated"] = "always"
    """the bootstrap method to use when a done signal is received. Can be 'always', 'never' or 'truncated'"""
    log_freq: int = 1_000
    """logging frequency in terms of environment steps"""

    def _task_defaults(self) -> dict[str, Any]:
        return {**BASE_DEFAULTS, **TASK_DEFAULTS.get(self.env_id, {})}

    @property
    def steps_per_env(self) -> int:
        """training_freq // num_envs: steps each env takes per iteration."""
        return self.training_freq // self.num_envs

    @property
    def grad_steps_per_iteration(self) -> int:
        """int(training_freq * utd)."""
        return int(self.training_freq * self.utd)

    def validate(self) -> None:
        super().validate()
        for name in ("buffer_size", "batch_size", "policy_frequency", "target_network_frequency", "training_freq",
                     "log_freq"):
            check_int(name, getattr(self, name), 1)
        check_int("learning_starts", self.learning_starts, 0)
        if self.bootstrap_at_done not in ("always", "never", "truncated"):
            raise ValueError(f"bootstrap_at_done={self.bootstrap_at_done!r}; use 'always', 'never' or 'truncated'")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma!r}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must lie in (0, 1], got {self.tau!r}")
        for name in ("policy_lr", "q_lr", "alpha"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.training_freq < self.num_envs:
            raise ValueError(f"training_freq={self.training_freq} must be >= num_envs={self.num_envs} "
                             "(each env steps training_freq // num_envs times per iteration)")
        if not self.grad_steps_per_iteration >= 1:
            raise ValueError(f"utd={self.utd!r} gives int(training_freq * utd) = {self.grad_steps_per_iteration} "
                             "gradient steps per iteration; must be >= 1")
        if self.buffer_size < self.num_envs:
            raise ValueError(f"buffer_size={self.buffer_size} must be >= num_envs={self.num_envs}")
        if self.contrastive and 0 < self.contrastive_buffer_size < self.training_freq:
            raise ValueError(f"contrastive_buffer_size={self.contrastive_buffer_size} is smaller than one "
                             f"iteration's data (training_freq = {self.training_freq}); use more or 0")
        if self.partial_reset and is_builtin(self.env_id):
            raise ValueError("partial_reset is a ManiSkill option; the built-in tasks always reset finished episodes")

    def env_kwargs(self) -> dict[str, Any]:
        kwargs = super().env_kwargs()
        if not is_builtin(self.env_id):
            kwargs["partial_reset"] = self.partial_reset
        return kwargs


def config_from_dict(values: dict[str, Any]) -> SACConfig:
    """A SACConfig from a dict such as a checkpoint's ``config`` (unknown keys are ignored)."""
    names = {f.name for f in dataclasses.fields(SACConfig)}
    return SACConfig(**{k: v for k, v in values.items() if k in names})


def build_agent(config: SACConfig, env) -> SACActor:
    """The SACActor (which owns the shared image encoder) for an env's spaces."""
    obs_space, action_space = env.single_observation_space, env.single_action_space
    has_state = "state" in obs_space.spaces
    return SACActor(
        image_size=obs_space["rgb"].shape[0], state_dim=obs_space["state"].shape[0] if has_state else 0,
        action_dim=int(np.prod(action_space.shape)), action_low=action_space.low, action_high=action_space.high,
        encoder=config.encoder, attention=config.attention, gaze_rl_grad=config.gaze_rl_grad,
        oracle_sigma=config.oracle_sigma,
        include_state=config.include_state and has_state,
    )


def policy_state(checkpoint: dict) -> dict:
    """The actor's state dict inside a SAC checkpoint."""
    return checkpoint["actor"]


class ReplayBuffer:
    """ManiSkill sac_rgbd's replay buffer: per-env circular storage of (obs, next_obs, action, reward, stop).

    Shapes: obs[k] (per_env, N, ...), actions (per_env, N, A), rewards / dones (per_env, N); ``add`` writes one
    row of all N envs. ``sample`` draws (row, env) pairs uniformly with torch's global RNG.
    """

    def __init__(self, env, num_envs: int, buffer_size: int, storage_device: torch.device, sample_device: torch.device):
        self.num_envs = num_envs
        self.per_env_buffer_size = buffer_size // num_envs
        self.storage_device, self.sample_device = storage_device, sample_device
        self.pos, self.full = 0, False
        shape = (self.per_env_buffer_size, num_envs)
        space = env.single_observation_space
        dtype = lambda k: torch.uint8 if k == "rgb" else torch.float32  # noqa: E731
        self.obs = {k: torch.zeros(shape + s.shape, dtype=dtype(k), device=storage_device) for k, s in space.spaces.items()}
        self.next_obs = {k: torch.zeros_like(v) for k, v in self.obs.items()}
        self.actions = torch.zeros(shape + env.single_action_space.shape, device=storage_device)
        self.rewards = torch.zeros(shape, device=storage_device)
        self.dones = torch.zeros(shape, device=storage_device)

    def add(self, obs: dict, next_obs: dict, action: Tensor, reward: Tensor, done: Tensor) -> None:
        """Store one step of every env (tensors with leading dim N)."""
        for k in self.obs:
            self.obs[k][self.pos] = obs[k].to(self.storage_device)
            self.next_obs[k][self.pos] = next_obs[k].to(self.storage_device)
        self.actions[self.pos] = action.to(self.storage_device)
        self.rewards[self.pos] = reward.to(self.storage_device)
        self.dones[self.pos] = done.to(self.storage_device)
        self.pos += 1
        if self.pos == self.per_env_buffer_size:
            self.full, self.pos = True, 0

    def sample(self, batch_size: int) -> dict[str, Any]:
        """A random minibatch: obs/next_obs dicts, actions (B, A), rewards (B,), dones (B,) on sample_device."""
        rows = torch.randint(0, self.per_env_buffer_size if self.full else self.pos, size=(batch_size,))
        envs = torch.randint(0, self.num_envs, size=(batch_size,))
        rows, envs = rows.to(self.storage_device), envs.to(self.storage_device)
        to = lambda t: t[rows, envs].to(self.sample_device)  # noqa: E731
        return {"obs": {k: to(v) for k, v in self.obs.items()}, "next_obs": {k: to(v) for k, v in self.next_obs.items()},
                "actions": to(self.actions), "rewards": to(self.rewards), "dones": to(self.dones)}

    def state_dict(self) -> dict:
        """The filled rows and the write position (for checkpoints)."""
        n = self.per_env_buffer_size if self.full else self.pos
        data = {"obs": self.obs, "next_obs": self.next_obs}
        state = {name: {k: v[:n].cpu() for k, v in d.items()} for name, d in data.items()}
        state.update({name: getattr(self, name)[:n].cpu() for name in ("actions", "rewards", "dones")})
        return {**state, "pos": self.pos, "full": self.full}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        n = state["rewards"].shape[0]
        for name in ("obs", "next_obs"):
            for k, v in state[name].items():
                getattr(self, name)[k][:n] = v.to(self.storage_device)
        for name in ("actions", "rewards", "dones"):
            getattr(self, name)[:n] = state[name].to(self.storage_device)
        self.pos, self.full = state["pos"], state["full"]


class EpisodeMaps:
    """Per-env feature maps and rewards of the running episodes, turned into (maps, return-to-go) when they end.

    Storage: maps (T, N, C, h, w) float16 and rewards (T, N) with T = max_episode_steps; ``t[i]`` = steps so far.
    """

    def __init__(self, num_envs: int, max_steps: int, feature_shape: tuple[int, int, int], gamma: float, device):
        self.maps = torch.zeros((max_steps, num_envs) + tuple(feature_shape), dtype=torch.float16, device=device)
        self.rewards = torch.zeros((max_steps, num_envs), device=device)
        self.t = torch.zeros(num_envs, dtype=torch.long)
        self.gamma = gamma

    def add(self, fmap: Tensor, reward: Tensor, done: Tensor, plugin: ContrastivePlugin) -> None:
        """Append one step (fmap (N, C, h, w) of the observation acted on, its reward (N,)); hand finished
        episodes (``done`` (N,) bool) to the contrastive buffer with their discounted returns-to-go."""
        envs = torch.arange(len(self.t))
        steps = self.t.clamp_max(len(self.maps) - 1)  # an episode never outlives max_steps; clamp for safety
        self.maps[steps, envs] = fmap.to(self.maps)
        self.rewards[steps, envs] = reward.to(self.rewards)
        self.t += 1
        for i in torch.nonzero(done.cpu()).flatten().tolist():
            length = int(self.t[i])
            returns = torch.zeros(length, device=self.rewards.device)
            running = 0.0
            for step in reversed(range(length)):  # G_t = r_t + gamma * G_{t+1}, no bootstrap at the end
                running = self.rewards[step, i] + self.gamma * running
                returns[step] = running
            plugin.add(self.maps[:length, i], returns)
            self.t[i] = 0

    def state_dict(self) -> dict:
        """Storage and counters (for checkpoints)."""
        return {"maps": self.maps.cpu(), "rewards": self.rewards.cpu(), "t": self.t.clone()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.maps.copy_(state["maps"])
        self.rewards.copy_(state["rewards"])
        self.t.copy_(state["t"])


def train_sac(config: SACConfig) -> TrainResult:
    """Train SAC (optionally with attention and the contrastive gaze update); see the module docstring."""
    return launch(config, "sac", _train)


def _train(config: SACConfig, run: Run, envs, eval_envs) -> TrainResult:
    device = run.device
    n = config.num_envs
    rb = ReplayBuffer(envs, n, config.buffer_size, torch.device(config.buffer_device or device), device)

    # architecture: actor and Q-networks share the actor's vision encoder; its output is concatenated with the
    # state (and the action for Q) followed by separate MLPs.
    actor = build_agent(config, envs).to(device)
    feature_dim, state_dim = actor.encoder.out_features, actor.state_dim
    action_dim = int(np.prod(envs.single_action_space.shape))
    qf1 = SoftQNetwork(feature_dim, state_dim, action_dim).to(device)
    qf2 = SoftQNetwork(feature_dim, state_dim, action_dim).to(device)
    qf1_target, qf2_target = copy.deepcopy(qf1), copy.deepcopy(qf2)
    # fused=True: the same Adam update in one kernel (the default per-tensor loop is far slower on CPU).
    q_optimizer = optim.Adam(list(qf1.parameters()) + list(qf2.parameters()) + list(actor.encoder.parameters()),
                             lr=config.q_lr, fused=True)
    actor_optimizer = optim.Adam(list(actor.parameters()), lr=config.policy_lr, fused=True)

    # Automatic entropy tuning
    if config.autotune:
        target_entropy = -float(action_dim)
        log_alpha = torch.zeros(1, requires_grad=True, device=device)
        alpha = log_alpha.exp().item()
        a_optimizer = optim.Adam([log_alpha], lr=config.q_lr, fused=True)
    else:
        alpha = config.alpha

    contrastive = (ContrastivePlugin(config, actor.encoder, n * envs.max_episode_steps, device)
                   if config.contrastive else None)
    episode_maps = (EpisodeMaps(n, envs.max_episode_steps, actor.encoder.feature_shape, config.gamma, device)
                    if contrastive else None)
    gaze = GazeTracker(actor.encoder.cnn)

    # TRY NOT TO MODIFY: start the game
    global_step, global_update, iteration, learning_has_started = 0, 0, 0, False
    obs, _ = envs.reset(seed=config.seed)
    if run.checkpoint is not None:
        ckpt = run.checkpoint
        actor.load_state_dict(ckpt["actor"])
        for module, key in ((qf1, "qf1"), (qf2, "qf2"), (qf1_target, "qf1_target"), (qf2_target, "qf2_target"),
                            (q_optimizer, "q_optimizer"), (actor_optimizer, "actor_optimizer")):
            module.load_state_dict(ckpt[key])
        if config.autotune:
            with torch.no_grad():
                log_alpha.copy_(ckpt["log_alpha"])
            a_optimizer.load_state_dict(ckpt["a_optimizer"])
        alpha = ckpt["alpha"]
        rb.load_state_dict(ckpt["replay"])
        if contrastive:
            contrastive.load_state_dict(ckpt["contrastive"])
            episode_maps.load_state_dict(ckpt["episode_maps"])
        global_step, global_update, iteration = ckpt["global_step"], ckpt["global_update"], ckpt["iteration"]
        learning_has_started = ckpt["learning_has_started"]
        if set_env_state(envs, ckpt["env"]):
            obs = {k: v.to(device) for k, v in ckpt["obs"].items()}
        else:  # ManiSkill: simulator state not captured; fresh episodes (and fresh per-env episode maps)
            obs, _ = envs.reset(seed=config.seed + global_step)
            if episode_maps is not None:
                episode_maps.t.zero_()
        if eval_envs is not None:
            set_env_state(eval_envs, ckpt["eval_env"])
        set_rng_state(ckpt["rng"])

    def checkpoint():
        return run.save({
            "iteration": iteration, "global_update": global_update, "learning_has_started": learning_has_started,
            "actor": actor.state_dict(), "qf1": qf1.state_dict(), "qf2": qf2.state_dict(),
            "qf1_target": qf1_target.state_dict(), "qf2_target": qf2_target.state_dict(),
            "q_optimizer": q_optimizer.state_dict(), "actor_optimizer": actor_optimizer.state_dict(),
            "log_alpha": log_alpha.detach().cpu() if config.autotune else None,
            "a_optimizer": a_optimizer.state_dict() if config.autotune else None, "alpha": alpha,
            "replay": rb.state_dict(),  # always: SAC cannot continue without its replay memory
            "contrastive": contrastive.state_dict() if contrastive else None,
            "episode_maps": episode_maps.state_dict() if contrastive else None,
            "env": env_state(envs), "eval_env": env_state(eval_envs) if eval_envs is not None else None,
            "obs": {k: v.cpu() for k, v in obs.items()},
        }, global_step)

    scalars: dict[str, float] = {}
    run.start_clock()
    with run.interruptible():
        while global_step < config.total_timesteps:
            iteration += 1
            # Collect samples from environments
            for _ in range(config.steps_per_env):
                global_step += n

                # ALGO LOGIC: put action logic here
                with torch.no_grad():
                    if not learning_has_started:
                        actions = 2 * torch.rand((n,) + envs.single_action_space.shape, device=device) - 1
                        enc = actor.encoder(obs["rgb"], obs.get("prize")) if contrastive else None  # maps for the buffer
                    else:
                        actions, _, _, _, enc = actor.get_action(obs)
                if enc is not None:
                    gaze.add(enc.attention, obs.get("prize"))

                # TRY NOT TO MODIFY: execute the game and log data.
                next_obs, rewards, terminations, truncations, infos = envs.step(actions)
                terminations, truncations = terminations.to(device), truncations.to(device)
                real_next_obs = {k: v.clone() for k, v in next_obs.items()}
                if config.bootstrap_at_done == "never":
                    need_final_obs = torch.ones_like(terminations, dtype=torch.bool)
                    stop_bootstrap = truncations | terminations  # always stop bootstrap when episode ends
                elif config.bootstrap_at_done == "always":
                    need_final_obs = truncations | terminations  # always need final obs when episode ends
                    stop_bootstrap = torch.zeros_like(terminations, dtype=torch.bool)  # never stop bootstrap
                else:  # bootstrap at truncated
                    need_final_obs = truncations & (~terminations)  # final obs only when truncated, not terminated
                    stop_bootstrap = terminations  # only stop bootstrap when terminated, not when truncated
                if "final_info" in infos:
                    run.record_episodes(infos)
                    for k in real_next_obs:
                        real_next_obs[k][need_final_obs] = infos["final_observation"][k][need_final_obs].clone()
                rb.add(obs, real_next_obs, actions, rewards.to(device), stop_bootstrap.float())
                if episode_maps is not None:  # the gaze plug-in: maps + rewards per env until the episode ends
                    episode_maps.add(enc.fmap, rewards, terminations | truncations, contrastive)

                # TRY NOT TO MODIFY: CRUCIAL step easy to overlook
                obs = next_obs

            # ALGO LOGIC: training.
            learning_has_started = global_step >= config.learning_starts
            for _ in range(config.grad_steps_per_iteration if learning_has_started else 0):
                global_update += 1
                data = rb.sample(config.batch_size)

                # update the value networks
                with torch.no_grad():
                    next_state_actions, next_state_log_pi, _, visual_feature, _ = actor.get_action(data["next_obs"])
                    next_state = actor.state_input(data["next_obs"])
                    qf1_next_target = qf1_target(visual_feature, next_state, next_state_actions)
                    qf2_next_target = qf2_target(visual_feature, next_state, next_state_actions)
                    min_qf_next_target = torch.min(qf1_next_target, qf2_next_target) - alpha * next_state_log_pi
                    # data["dones"] is "stop_bootstrap", computed above according to bootstrap_at_done
                    next_q_value = data["rewards"].flatten() + (1 - data["dones"].flatten()) * config.gamma * min_qf_next_target.view(-1)
                visual_feature = actor.encoder(data["obs"]["rgb"], data["obs"].get("prize")).features
                state = actor.state_input(data["obs"])
                qf1_a_values = qf1(visual_feature, state, data["actions"]).view(-1)
                qf2_a_values = qf2(visual_feature, state, data["actions"]).view(-1)
                qf1_loss = F.mse_loss(qf1_a_values, next_q_value)
                qf2_loss = F.mse_loss(qf2_a_values, next_q_value)
                qf_loss = qf1_loss + qf2_loss

                q_optimizer.zero_grad()
                qf_loss.backward()
                q_optimizer.step()

                # update the policy network
                if global_update % config.policy_frequency == 0:  # TD 3 Delayed update support
                    pi, log_pi, _, visual_feature, _ = actor.get_action(data["obs"])
                    qf1_pi = qf1(visual_feature.detach(), state, pi)
                    qf2_pi = qf2(visual_feature.detach(), state, pi)
                    min_qf_pi = torch.min(qf1_pi, qf2_pi).view(-1)
                    actor_loss = ((alpha * log_pi) - min_qf_pi).mean()

                    actor_optimizer.zero_grad()
                    actor_loss.backward()
                    actor_optimizer.step()

                    if config.autotune:
                        with torch.no_grad():
                            _, log_pi, _, _, _ = actor.get_action(data["obs"])
                        alpha_loss = (-log_alpha.exp() * (log_pi + target_entropy)).mean()

                        a_optimizer.zero_grad()
                        alpha_loss.backward()
                        a_optimizer.step()
                        alpha = log_alpha.exp().item()

                # update the target networks
                if global_update % config.target_network_frequency == 0:
                    for param, target_param in zip(qf1.parameters(), qf1_target.parameters()):
                        target_param.data.copy_(config.tau * param.data + (1 - config.tau) * target_param.data)
                    for param, target_param in zip(qf2.parameters(), qf2_target.parameters()):
                        target_param.data.copy_(config.tau * param.data + (1 - config.tau) * target_param.data)

            if learning_has_started:
                if contrastive:
                    scalars.update(contrastive.update(iteration))
                scalars.update({"losses/qf": qf_loss.item() / 2.0, "losses/qf_values": qf1_a_values.mean().item(),
                                "alpha": alpha})
                if global_update >= config.policy_frequency:
                    scalars["losses/actor"] = actor_loss.item()
                    if config.autotune:
                        scalars["losses/alpha"] = alpha_loss.item()

            last = global_step >= config.total_timesteps
            evaluate = eval_envs is not None and (run.due(iteration, config.eval_freq) or last)
            if evaluate:
                metrics = evaluate_policy(actor.act, eval_envs, config.num_eval_episodes, cnn=actor.encoder.cnn)
                scalars.update({f"eval/{k}": v for k, v in metrics.items()})
            if evaluate or last or (global_step - config.training_freq) // config.log_freq < global_step // config.log_freq:
                run.log_iteration(global_step, iteration, {**scalars, **{f"gaze/{k}": v for k, v in gaze.scalars().items()}})
                scalars = {}
            if run.due(iteration, config.checkpoint_every) or last or run.stop.requested:
                checkpoint()
            if run.stop.requested:
                break
    if not run.checkpoint_file.exists():
        checkpoint()
    return run.result()
