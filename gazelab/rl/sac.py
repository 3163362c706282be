"""SAC from pixels, as ManiSkill3's ``examples/baselines/sac/sac_rgbd.py`` (CleanRL style), with a gaze plug-in.

The algorithm is :func:`train_sac`, one function, read top to bottom (the run's plumbing, its directory, logging,
checkpoints and resume, is :class:`gazelab.rl.run.Run`). Each iteration:

1. **Collect** ``training_freq`` environment steps (``training_freq // num_envs`` per env): uniform random
   actions until ``learning_starts``, then samples of the tanh-Gaussian actor. Transitions go to a replay
   buffer; with ``bootstrap_at_done="always"`` (the default) episode ends never stop the bootstrap and the
   final observation is stored as next observation.
2. **Update** ``int(training_freq * utd)`` gradient steps (update-to-data ratio ``utd``) on minibatches of
   ``batch_size``:

   * critic: twin soft Q-networks on cat(image features, state, action); target ``r + gamma * (1 - stop) *
     (min Q_target(s', a') - alpha log pi(a'|s'))`` with a' from the current actor; the shared image encoder
     is trained by this loss (the Q optimizer holds the image branch's parameters);
   * actor (every ``policy_frequency`` steps): ``alpha log pi - min Q`` where the Q-networks see *detached*
     image features, so the actor loss does not shape the encoder through the critics. As in sac_rgbd, the
     actor's own MLP path to the image branch is not detached and the actor optimizer holds all actor
     parameters, image branch included;
   * temperature (``autotune``): ``-exp(log_alpha) (log pi + target_entropy)``, target entropy = -|A|;
   * Polyak averaging of the Q-heads (``tau``) every ``target_network_frequency`` steps (the target critics
     use the online image branch's features, as in sac_rgbd where the targets share the actor's encoder);
   * CURL (only with ``curl_coef > 0``, :mod:`gazelab.rl.curl`): after each critic step, a step of its own Adam
     (learning rate ``curl_coef`` times ``q_lr``) on an instance-contrastive InfoNCE on the CNN's map of the
     minibatch's observations, as CURL trains SAC's encoder.
3. **Gaze plug-in** (``contrastive=True``, :mod:`gazelab.method.plugin`): the detached feature map of every observation
   the actor saw is kept per env with its reward until the episode ends; then the episode's maps go to the
   contrastive buffer with their label (default: the *discounted return-to-go* ``G_t = r_t + gamma G_{t+1}``, no
   bootstrap at the time limit: the return of what actually happened; :func:`gazelab.method.returns.discount_cumsum`), and the
   contrastive update trains the attention head, at learning rate 0.01 unless ``contrastive.lr`` says otherwise
   (:attr:`SACConfig.default_contrastive_lr`; PPO's is 3e-4).

With ``attention="none"`` and ``contrastive=False`` this is sac_rgbd with its defaults, except: the image encoder
is NatureCNN / the fine variant instead of sac_rgbd's ``PlainConv`` (whose 2x2 map at 64x64 leaves no room for a
fovea); the replay sampler draws rows from the filled per-env length (sac_rgbd draws from ``buffer_size`` once
full, an index error whenever num_envs > 1); the ManiSkill default replay size is 100k (sac_rgbd's 1M 128x128
images need ~47 GB); evaluation counts whole episodes every ``eval_freq`` iterations.

Checkpoints carry everything else needed to resume but, as sac_rgbd's (which hold only the networks), not the
replay buffer: at 24 KB per 64x64 transition, a full built-in replay is 1.2 GB. A run resumed without it refills
an empty replay from scratch (uniform random actions and no gradient step for ``learning_starts`` steps; it says
so in one line). ``checkpoint_replay=True`` saves the filled rows instead, for an exact resume.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F
import torch.optim as optim
from torch import Tensor, nn

from gazelab.rl.augment import augment_obs
from gazelab.rl.curl import curl_for
from gazelab.rl.networks import SACActor, SoftQNetwork
from gazelab.core.checks import AtLeast, Interval
from gazelab.rl.config import PerTask, TrainConfig
from gazelab.envs import is_builtin, make_env
from gazelab.rl.evaluation import episode_success, evaluate_policy
from gazelab.core.errors import GazelabError
from gazelab.rl.prize import GazeTracker
from gazelab.method.labels import EPISODE_LABELS, ROLLOUT_LABELS
from gazelab.rl.run import LoopState, Run, TrainResult

__all__ = ["SACConfig", "train_sac", "TASK_DEFAULTS", "BASE_DEFAULTS", "build_agent", "ReplayBuffer", "Temperature"]

# sac_rgbd.py's Args defaults, for every field a task does not override.
BASE_DEFAULTS: dict[str, Any] = dict(total_timesteps=1_000_000, num_envs=16, buffer_size=100_000, batch_size=512,
                                     learning_starts=4_000, utd=0.25, eval_freq=25, checkpoint_every=100)
# The built-in tasks on a 2-core CPU: smaller batches and fewer gradient steps per environment step, or a pixel
# SAC update would run at a few environment steps per second.
_BUILTIN = dict(total_timesteps=50_000, buffer_size=50_000, batch_size=128, learning_starts=2_000, utd=0.125,
                eval_freq=50, checkpoint_every=50)
TASK_DEFAULTS: dict[str, dict[str, Any]] = {env_id: dict(_BUILTIN) for env_id in (
    "gazelab/Reach-v0", "gazelab/ReachClutter-v0", "gazelab/ReachLampClutter-v0", "gazelab/ReachFar-v0", "gazelab/ReachFarClutter-v0",
    "gazelab/Push-v0", "gazelab/PushClutter-v0")}
"""Per task, the PerTask fields that differ from BASE_DEFAULTS (sac_rgbd's own defaults)."""


@dataclass
class SACConfig(TrainConfig):
    """SAC hyper-parameters (ManiSkill3 sac_rgbd names and defaults) + the shared fields of TrainConfig."""

    algo: ClassVar[str] = "sac"
    default_labels: ClassVar[str] = "return_to_go"
    # SAC's critic moves the gaze slowly (near the goal after 24-44k steps, or never, at 3e-4); at 0.01 the step moves it
    # there by ~10-18k and SAC reaches 0.5 success 1.7x sooner (docs/evidence.md, "SAC: the step's learning rate";
    # labels shuffled across episodes cost 1.26x of that, "SAC's shuffled control revisited")
    default_contrastive_lr: ClassVar[float] = 0.01

    buffer_size: PerTask[Annotated[int, AtLeast(1)]] = None
    """the replay memory buffer size (64x64 obs + next obs take 24 KB per transition)"""
    buffer_device: Optional[str] = None
    """where the replay buffer is stored: 'cpu' or 'cuda' (None = the training device)"""
    gamma: Annotated[float, Interval(0, 1, low_open=True)] = 0.8
    """the discount factor gamma"""
    tau: Annotated[float, Interval(0, 1, low_open=True)] = 0.01
    """target smoothing coefficient"""
    batch_size: PerTask[Annotated[int, AtLeast(1)]] = None
    """the batch size of sample from the replay memory"""
    learning_starts: PerTask[Annotated[int, AtLeast(0)]] = None
    """timestep to start learning"""
    policy_lr: Annotated[float, AtLeast(0)] = 3e-4
    """the learning rate of the policy network optimizer"""
    q_lr: Annotated[float, AtLeast(0)] = 3e-4
    """the learning rate of the Q network network optimizer"""
    policy_frequency: Annotated[int, AtLeast(1)] = 1
    """the frequency of training policy (delayed)"""
    target_network_frequency: Annotated[int, AtLeast(1)] = 1
    """the frequency of updates for the target networks"""
    alpha: Annotated[float, AtLeast(0)] = 0.2
    """Entropy regularization coefficient (without autotune; with autotune log_alpha starts at 0 as in sac_rgbd)"""
    autotune: bool = True
    """automatic tuning of the entropy coefficient"""
    training_freq: Annotated[int, AtLeast(1)] = 64
    """training frequency (in steps): environment steps (all envs together) per iteration"""
    utd: PerTask[Annotated[float, Interval(0, low_open=True)]] = None
    """update to data ratio: gradient steps per environment step"""
    partial_reset: bool = False
    """ManiSkill: reset envs when they terminate (False: run to the time limit). Built-in tasks always reset"""
    bootstrap_at_done: Literal["always", "never", "truncated"] = "always"
    """the bootstrap method to use when a done signal is received. Can be 'always', 'never' or 'truncated'"""
    log_freq: Annotated[int, AtLeast(1)] = 1_000
    """logging frequency in terms of environment steps"""
    checkpoint_replay: bool = False
    """save the filled replay rows in checkpoints for an exact resume (24 KB per 64x64 transition); False: refill it"""

    def task_defaults(self) -> dict[str, Any]:
        return {**super().task_defaults(), **BASE_DEFAULTS, **TASK_DEFAULTS.get(self.env_id, {})}

    @property
    def steps_per_env(self) -> int:
        """training_freq // num_envs: steps each env takes per iteration."""
        return self.training_freq // self.num_envs

    @property
    def steps_per_iteration(self) -> int:
        return self.training_freq

    @property
    def grad_steps_per_iteration(self) -> int:
        """int(training_freq * utd)."""
        return int(self.training_freq * self.utd)

    def validate(self) -> None:
        super().validate()
        if self.training_freq < self.num_envs:
            raise GazelabError(f"training_freq={self.training_freq} must be >= num_envs={self.num_envs} "
                               "(each env steps training_freq // num_envs times per iteration)")
        if not self.grad_steps_per_iteration >= 1:
            raise GazelabError(f"utd={self.utd!r} gives int(training_freq * utd) = {self.grad_steps_per_iteration} "
                               "gradient steps per iteration; must be >= 1")
        if self.buffer_size < self.num_envs:
            raise GazelabError(f"buffer_size={self.buffer_size} must be >= num_envs={self.num_envs}")
        buffer_size = self.contrastive_config.buffer_size
        if self.contrastive and 0 < buffer_size < self.training_freq:
            raise GazelabError(f"contrastive.buffer_size={buffer_size} is smaller than one "
                               f"iteration's data (training_freq = {self.training_freq}); use more or 0")
        if self.contrastive_config.labels in ROLLOUT_LABELS:
            raise GazelabError(f"contrastive.labels={self.contrastive_config.labels!r} needs PPO's rollout; SAC labels "
                               f"finished episodes: use {', '.join(map(repr, EPISODE_LABELS))}")
        if self.partial_reset and is_builtin(self.env_id):
            raise GazelabError("partial_reset is a ManiSkill option; the built-in tasks always reset finished episodes")

    def env_kwargs(self) -> dict[str, Any]:
        kwargs = super().env_kwargs()
        if not is_builtin(self.env_id):
            kwargs["partial_reset"] = self.partial_reset
        return kwargs


def build_agent(config: SACConfig, spaces) -> SACActor:
    """The SACActor (which owns the shared image branch) for the spaces of ``spaces``: an env or a
    :class:`gazelab.rl.checkpoint.EnvSpaces` (e.g. from a checkpoint)."""
    obs_space, action_space = spaces.single_observation_space, spaces.single_action_space
    has_state = "state" in obs_space.spaces
    return SACActor(
        image_size=obs_space["rgb"].shape[0], state_dim=obs_space["state"].shape[0] if has_state else 0,
        action_dim=int(np.prod(action_space.shape)), action_low=action_space.low, action_high=action_space.high,
        encoder=config.encoder, attention=config.attention, gaze_rl_grad=config.gaze_rl_grad,
        centre_input=config.gaze_centre_input, **config.attention_options(),
        include_state=config.include_state and has_state,
    )


class Temperature(nn.Module):
    """SAC's entropy temperature ``alpha = exp(log_alpha)``, learned with ``autotune`` (log_alpha starts at 0 as in
    sac_rgbd); a module so that its optimizer and checkpoints treat it like the networks."""

    def __init__(self):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.zeros(1))

    def alpha(self) -> float:
        return self.log_alpha.exp().item()


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
        """Copies of the filled rows and the write position (for checkpoints).

        Copies, not views: torch.save writes a view's whole storage, i.e. the full ``buffer_size`` replay.
        """
        n = self.per_env_buffer_size if self.full else self.pos
        filled = lambda t: t[:n].to("cpu", copy=True)  # noqa: E731
        state = {name: {k: filled(v) for k, v in getattr(self, name).items()} for name in ("obs", "next_obs")}
        state.update({name: filled(getattr(self, name)) for name in ("actions", "rewards", "dones")})
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


def train_sac(config: SACConfig) -> TrainResult:
    """Train SAC (optionally with attention and the contrastive gaze update); see the module docstring."""
    with Run(config) as run:
        config, device = run.config, run.device  # the resolved config: per-task defaults filled in
        n = config.num_envs
        # env setup: training envs, and evaluation envs on another seed so their episodes differ
        envs = run.attach(make_env(config.env_id, n, seed=config.seed, device=device, **config.env_kwargs()))
        eval_envs = run.attach(make_env(config.env_id, config.num_eval_envs, seed=config.seed + 1, device=device,
                                        **config.env_kwargs()), evaluation=True) if config.eval_freq else None
        rb = ReplayBuffer(envs, n, config.buffer_size, torch.device(config.buffer_device or device), device)

        # architecture: actor and Q-networks share the actor's image branch; its output is concatenated with the
        # state (and the action for Q) followed by separate MLPs.
        actor = build_agent(config, envs).to(device)
        feature_dim, state_dim = actor.image.out_features, actor.state_dim
        action_dim = int(np.prod(envs.single_action_space.shape))
        qf1 = SoftQNetwork(feature_dim, state_dim, action_dim).to(device)
        qf2 = SoftQNetwork(feature_dim, state_dim, action_dim).to(device)
        qf1_target, qf2_target = copy.deepcopy(qf1), copy.deepcopy(qf2)
        # fused=True: the same Adam update in one kernel (the default per-tensor loop is far slower on CPU).
        q_optimizer = optim.Adam(list(qf1.parameters()) + list(qf2.parameters()) + list(actor.image.parameters()),
                                 lr=config.q_lr, fused=True)
        actor_optimizer = optim.Adam(list(actor.parameters()), lr=config.policy_lr, fused=True)
        # CURL: its own Adam on the CNN, head and W, at curl_coef x the critic's rate (the rate that trains the CNN)
        curl, curl_optimizer = curl_for(config, actor.image.cnn, config.q_lr, device)

        # Automatic entropy tuning
        temperature = a_optimizer = None
        if config.autotune:
            target_entropy = -float(action_dim)
            temperature = Temperature().to(device)
            a_optimizer = optim.Adam(temperature.parameters(), lr=config.q_lr, fused=True)

        contrastive = config.contrastive_plugin(actor.image, envs.max_episode_steps, device)
        gaze = GazeTracker(actor.image.cnn)

        # TRY NOT TO MODIFY: start the game (a resumed run continues where its checkpoint stopped).
        # Learning starts once the replay holds learning_starts steps: counted from replay_start_step, the step at
        # which the replay was last started empty (0, or a resume from a checkpoint without the replay).
        loop = LoopState(obs=envs.reset(seed=config.seed)[0], global_update=0, replay_start_step=0)
        run.track(actor=actor, qf1=qf1, qf2=qf2, qf1_target=qf1_target, qf2_target=qf2_target,
                  q_optimizer=q_optimizer, actor_optimizer=actor_optimizer, temperature=temperature,
                  a_optimizer=a_optimizer, replay=rb if config.checkpoint_replay else None, contrastive=contrastive,
                  curl=curl, curl_optimizer=curl_optimizer, envs=envs, eval_envs=eval_envs, loop=loop)
        if run.resumed and not is_builtin(config.env_id):  # ManiSkill's simulator state is not saved: new episodes
            loop.obs, _ = envs.reset(seed=config.seed + run.start_step)
            if contrastive:
                contrastive.restart_episodes()
        if run.resumed and not config.checkpoint_replay:
            loop.replay_start_step = run.start_step
            run.note(f"resume: {config.resume} holds no replay buffer (checkpoint_replay=False); refilling it from "
                     f"scratch: random actions and no gradient step for the next {config.learning_starts} steps")
        alpha = temperature.alpha() if config.autotune else config.alpha
        global_step, iteration = run.start_step, run.start_iteration
        learning_has_started = global_step - loop.replay_start_step >= config.learning_starts
        scalars: dict[str, float] = {}
        while global_step < config.total_timesteps:
            iteration += 1
            # Collect samples from environments
            for _ in range(config.steps_per_env):
                global_step += n

                # ALGO LOGIC: put action logic here
                obs = loop.obs
                with torch.no_grad():
                    if not learning_has_started:
                        actions = 2 * torch.rand((n,) + envs.single_action_space.shape, device=device) - 1
                        # the maps of what it sees, for the contrastive buffer
                        image = actor.image.see(obs) if contrastive else None
                    else:
                        actions, _, _, _, image = actor.get_action(obs)
                if image is not None:
                    gaze.add(image.attention, obs.get("prize"))

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
                if contrastive:  # the gaze plug-in: maps + rewards per env, labelled when the episode ends
                    contrastive.observe(image.fmap, rewards, terminations | truncations, episode_success(infos, n))

                # TRY NOT TO MODIFY: CRUCIAL step easy to overlook
                loop.obs = next_obs

            # ALGO LOGIC: training.
            learning_has_started = global_step - loop.replay_start_step >= config.learning_starts
            for _ in range(config.grad_steps_per_iteration if learning_has_started else 0):
                loop.global_update += 1
                data = rb.sample(config.batch_size)
                true_rgb = data["obs"]["rgb"]  # CURL draws its own two shifts of the stored frames
                if config.augment != "none":  # DrQ: obs and next obs shifted, each with its own offsets
                    data = {**data, "obs": augment_obs(data["obs"], config.augment, config.augment_pad),
                            "next_obs": augment_obs(data["next_obs"], config.augment, config.augment_pad)}

                # update the value networks
                with torch.no_grad():
                    next_state_actions, next_state_log_pi, _, visual_feature, _ = actor.get_action(data["next_obs"])
                    next_state = actor.state_input(data["next_obs"])
                    qf1_next_target = qf1_target(visual_feature, next_state, next_state_actions)
                    qf2_next_target = qf2_target(visual_feature, next_state, next_state_actions)
                    min_qf_next_target = torch.min(qf1_next_target, qf2_next_target) - alpha * next_state_log_pi
                    # data["dones"] is "stop_bootstrap", computed above according to bootstrap_at_done
                    next_q_value = data["rewards"].flatten() + (1 - data["dones"].flatten()) * config.gamma * min_qf_next_target.view(-1)
                visual_feature = actor.image.see(data["obs"]).features
                state = actor.state_input(data["obs"])
                qf1_a_values = qf1(visual_feature, state, data["actions"]).view(-1)
                qf2_a_values = qf2(visual_feature, state, data["actions"]).view(-1)
                qf1_loss = F.mse_loss(qf1_a_values, next_q_value)
                qf2_loss = F.mse_loss(qf2_a_values, next_q_value)
                qf_loss = qf1_loss + qf2_loss

                q_optimizer.zero_grad()
                qf_loss.backward()
                q_optimizer.step()
                if curl:  # CURL: tell each image from the minibatch's others, from two shifts of it
                    curl_loss, curl_accuracy = curl.step(actor.image.cnn, true_rgb, curl_optimizer)

                # update the policy network
                if loop.global_update % config.policy_frequency == 0:  # TD 3 Delayed update support
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
                        alpha_loss = (-temperature.log_alpha.exp() * (log_pi + target_entropy)).mean()

                        a_optimizer.zero_grad()
                        alpha_loss.backward()
                        a_optimizer.step()
                        alpha = temperature.alpha()

                # update the target networks
                if loop.global_update % config.target_network_frequency == 0:
                    for param, target_param in zip(qf1.parameters(), qf1_target.parameters()):
                        target_param.data.copy_(config.tau * param.data + (1 - config.tau) * target_param.data)
                    for param, target_param in zip(qf2.parameters(), qf2_target.parameters()):
                        target_param.data.copy_(config.tau * param.data + (1 - config.tau) * target_param.data)

            if learning_has_started:
                if contrastive:
                    scalars.update(contrastive.update(iteration))
                scalars.update({"losses/qf": qf_loss.item() / 2.0, "losses/qf_values": qf1_a_values.mean().item(),
                                "alpha": alpha})
                if curl:
                    scalars.update({"losses/curl": curl_loss.item(), "losses/curl_accuracy": curl_accuracy.item()})
                if loop.global_update >= config.policy_frequency:
                    scalars["losses/actor"] = actor_loss.item()
                    if config.autotune:
                        scalars["losses/alpha"] = alpha_loss.item()
            run.check_finite(iteration, scalars, {"actor": actor, "qf1": qf1, "qf2": qf2})

            last = global_step >= config.total_timesteps
            evaluate, film = run.eval_due(iteration, last), None
            if evaluate:
                film = run.video_film(last, actor.image.cnn)  # None unless capture_video and one is due
                metrics = evaluate_policy(actor.act, eval_envs, config.num_eval_episodes, cnn=actor.image.cnn,
                                          film=film)
                scalars.update({f"eval/{k}": v for k, v in metrics.items()})
            if evaluate or last or (global_step - config.training_freq) // config.log_freq < global_step // config.log_freq:
                run.log_iteration(global_step, iteration,
                                  {**scalars, **{f"gaze/{k}": v for k, v in gaze.scalars().items()}}, video=film)
                scalars = {}
            if run.end_iteration(global_step, iteration, last):
                break
    return run.result()
