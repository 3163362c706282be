"""PPO from pixels, as ManiSkill3's ``examples/baselines/ppo/ppo_rgb.py`` (CleanRL style), with a gaze plug-in.

The algorithm is :func:`train_ppo`, one function, read top to bottom (the run's plumbing, its directory, logging,
checkpoints and resume, is :class:`gazelab.rl.run.Run`):

1. **Rollout** ``num_steps`` x ``num_envs`` steps with the current policy; store obs, actions, log-probs,
   rewards, dones, values; the value of ``final_observation`` bootstraps episodes that ended (ManiSkill's
   ``final_values``, correct for truncations and early terminations alike).
2. **GAE** (gamma, lambda; :func:`gazelab.method.returns.gae`) -> advantages; returns = advantages + values.
3. **Update** ``update_epochs`` epochs of ``num_minibatches`` minibatches: clipped surrogate, value MSE (optional
   clipping), entropy bonus, normalized advantages, global grad-norm clip, early stop when the approximate KL
   of a minibatch exceeds ``target_kl`` (ppo_rgb checks it before the step, and breaks both loops).
4. **Gaze plug-in** (only with ``contrastive=True``, :mod:`gazelab.method.plugin`): the detached CNN feature maps of the
   observations acted on go to the contrastive buffer with their label (default ``gae``: the per-step returns of
   step 2; or an episode label, :mod:`gazelab.method.labels`), and the contrastive update trains the attention head
   (its own optimizer; nothing else changes).
5. **CURL** (only with ``curl_coef > 0``, :mod:`gazelab.rl.curl`): after each minibatch's PPO step, a step of its own
   optimizer (as CURL's; learning rate ``curl_coef`` times PPO's) on an instance-contrastive InfoNCE on the CNN's map
   of two random shifts of the minibatch's images; then the key encoder follows.

With ``attention="none"`` and ``contrastive=False`` this is ppo_rgb with its defaults and, per task, the settings
of ManiSkill's ``examples.sh`` (``TASK_DEFAULTS``; the built-in tasks use ManiSkill's RGB update on a CPU-sized
batch). Differences from ppo_rgb (none changes the algorithm): Adam runs fused (same update, one kernel); no
separate ``--evaluate`` mode (``gazelab eval``); evaluation counts whole episodes instead of a fixed number of
steps; episode metrics are averaged per iteration; the finite-horizon GAE variant is left out; checkpoints carry
everything needed to resume; on CPU, ManiSkill tasks default to one env per core.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

from gazelab.rl.augment import augment_obs
from gazelab.rl.curl import curl_for
from gazelab.rl.networks import PPOAgent
from gazelab.core.checks import AtLeast, Interval
from gazelab.rl.config import PerTask, TrainConfig, resolve_device
from gazelab.envs import is_builtin, make_env
from gazelab.rl.evaluation import episode_success, evaluate_policy
from gazelab.core.errors import GazelabError
from gazelab.method.contrastive import STANDALONE_LR
from gazelab.method.plugin import ppo_hook
from gazelab.rl.prize import GazeTracker, teacher_loss
from gazelab.method.returns import gae
from gazelab.rl.run import LoopState, Run, TrainResult

__all__ = ["PPOConfig", "train_ppo", "TASK_DEFAULTS", "BASE_DEFAULTS", "build_agent", "parameter_groups"]

# ppo_rgb.py's Args defaults, for every field a task does not override.
BASE_DEFAULTS: dict[str, Any] = dict(total_timesteps=10_000_000, num_envs=512, num_steps=50, gamma=0.8,
                                     num_minibatches=32, update_epochs=4, eval_freq=25, checkpoint_every=25)
_MS_RGB = dict(num_envs=256, update_epochs=8, num_minibatches=8)  # every RGB command of ManiSkill's examples.sh
# The built-in tasks on a 2-core CPU: ManiSkill's RGB update (8 epochs x 8 minibatches) on a CPU-sized batch of
# 32 envs x 32 steps. Measured on Reach-v0 (fine encoder, seed 1, benchmarks/sample_efficiency.py): success 0.5
# after 20k steps and 0.97 at 82k, vs 31k and an unstable 0.2-0.9 with 4 epochs x 4 minibatches.
_BUILTIN = dict(num_envs=32, num_steps=32, num_minibatches=8, update_epochs=8, eval_freq=10, checkpoint_every=10)
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    # ManiSkill3 examples/baselines/ppo/examples.sh, "RGB Based PPO" (GPU settings)
    "PushCube-v1": dict(_MS_RGB, total_timesteps=1_000_000, num_steps=20, eval_freq=10),
    "gazelab/PushCubeClutter-v1": dict(_MS_RGB, total_timesteps=1_000_000, num_steps=20, eval_freq=10),
    "PickCube-v1": dict(_MS_RGB, total_timesteps=10_000_000),
    "PushT-v1": dict(_MS_RGB, total_timesteps=25_000_000, num_steps=100, gamma=0.99),
    # PokeCube has only a state-based command there (3M steps, 20-step rollouts); same with the RGB batch
    "PokeCube-v1": dict(_MS_RGB, total_timesteps=3_000_000, num_steps=20, eval_freq=10),
    "gazelab/Reach-v0": dict(_BUILTIN, total_timesteps=100_000),
    "gazelab/ReachClutter-v0": dict(_BUILTIN, total_timesteps=150_000),
    "gazelab/ReachLampClutter-v0": dict(_BUILTIN, total_timesteps=150_000),
    "gazelab/ReachFar-v0": dict(_BUILTIN, total_timesteps=200_000),
    "gazelab/ReachFarClutter-v0": dict(_BUILTIN, total_timesteps=250_000),
    "gazelab/Push-v0": dict(_BUILTIN, total_timesteps=300_000),
    "gazelab/PushClutter-v0": dict(_BUILTIN, total_timesteps=400_000),
}
"""Per task, the PerTask fields that differ from BASE_DEFAULTS (ppo_rgb's own defaults)."""


@dataclass
class PPOConfig(TrainConfig):
    """PPO hyper-parameters (ManiSkill3 ppo_rgb names and defaults) + the shared fields of TrainConfig."""

    algo: ClassVar[str] = "ppo"
    default_labels: ClassVar[str] = "gae"
    default_contrastive_lr: ClassVar[float] = STANDALONE_LR

    learning_rate: Annotated[float, AtLeast(0)] = 3e-4
    """the learning rate of the optimizer (0 freezes the RL update, e.g. to watch the contrastive step alone)"""
    num_steps: PerTask[Annotated[int, AtLeast(1)]] = None
    """the number of steps to run in each environment per policy rollout"""
    anneal_lr: bool = False
    """Toggle learning rate annealing for policy and value networks"""
    gamma: PerTask[Annotated[float, Interval(0, 1, low_open=True)]] = None
    """the discount factor gamma (ppo_rgb: 0.8)"""
    gae_lambda: Annotated[float, Interval(0, 1, low_open=True)] = 0.9
    """the lambda for the general advantage estimation"""
    num_minibatches: PerTask[Annotated[int, AtLeast(1)]] = None
    """the number of mini-batches"""
    update_epochs: PerTask[Annotated[int, AtLeast(1)]] = None
    """the K epochs to update the policy"""
    norm_adv: bool = True
    """Toggles advantages normalization"""
    clip_coef: Annotated[float, Interval(0, low_open=True)] = 0.2
    """the surrogate clipping coefficient"""
    clip_vloss: bool = False
    """Toggles whether or not to use a clipped loss for the value function, as per the paper."""
    ent_coef: Annotated[float, AtLeast(0)] = 0.0
    """coefficient of the entropy"""
    vf_coef: Annotated[float, AtLeast(0)] = 0.5
    """coefficient of the value function"""
    max_grad_norm: Annotated[float, Interval(0, low_open=True)] = 0.5
    """the maximum norm for the gradient clipping"""
    target_kl: Annotated[Optional[float], Interval(0, low_open=True)] = 0.2
    """the target KL divergence threshold (None = no early stop)"""
    reward_scale: Annotated[float, AtLeast(0)] = 1.0
    """Scale the reward by this factor"""
    gaze_lr_scale: Annotated[float, Interval(0, 1, low_open=True)] = 1.0
    """the gaze head's learning rate in PPO's optimizer, as a factor on learning_rate (1 = the same). Below 1, PPO moves
    the gaze more slowly, which a factor on its gradients cannot do (``gaze_rl_grad``: Adam divides it out); the
    contrastive step's own optimizer is not affected. Needs a learned attention ('gaze' or 'patch')"""

    gaze_teacher: Annotated[float, AtLeast(0)] = 0.0
    """diagnostic, built-in tasks only (0 = off): the learning rate of a teacher's own Adam step after every minibatch
    that pulls the gaze's centre on detached maps onto the true goal (gazelab.rl.prize.teacher_loss). A perfect
    teacher for the head, built like the contrastive step (its own optimizer, the head only): the bound of what a
    signal that shapes only the head could buy. Needs attention='gaze'"""

    gaze_teacher_cnn: bool = False
    """with gaze_teacher > 0: the teacher's loss also trains the CNN (its optimizer holds the CNN at learning_rate, on
    a fresh forward pass of the minibatch): the bound of a signal that shapes the encoder as well as the head"""

    def method_name(self) -> str:
        teacher = "+teacher-cnn" if self.gaze_teacher and self.gaze_teacher_cnn else "+teacher"
        return super().method_name() + (teacher if self.gaze_teacher else "")

    def task_defaults(self) -> dict[str, Any]:
        defaults = {**super().task_defaults(), **BASE_DEFAULTS, **TASK_DEFAULTS.get(self.env_id, {})}
        if not is_builtin(self.env_id) and resolve_device(self.device).type == "cpu":
            # ManiSkill on CPU runs one simulator process per env: one per core, not the GPU's hundreds.
            defaults["num_envs"] = os.cpu_count() or 1
        return defaults

    @property
    def batch_size(self) -> int:
        """num_envs * num_steps: transitions per iteration."""
        return self.num_envs * self.num_steps

    @property
    def steps_per_iteration(self) -> int:
        return self.batch_size

    @property
    def minibatch_size(self) -> int:
        """batch_size // num_minibatches."""
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self) -> int:
        """total_timesteps // batch_size."""
        return self.total_timesteps // self.batch_size

    def validate(self) -> None:
        super().validate()
        if self.num_minibatches > self.batch_size:
            raise GazelabError(f"num_minibatches={self.num_minibatches} exceeds batch_size = num_envs * num_steps = "
                               f"{self.batch_size}")
        if self.norm_adv:
            self._check_minibatch_split()
        if self.total_timesteps < self.batch_size:
            raise GazelabError(f"total_timesteps={self.total_timesteps} is less than one iteration (batch_size = "
                               f"num_envs * num_steps = {self.batch_size})")
        if self.gaze_teacher > 0 and (self.attention != "gaze" or not is_builtin(self.env_id)):
            raise GazelabError(f"gaze_teacher={self.gaze_teacher:g} teaches a gaze the true goal: it needs "
                               f"attention='gaze' (got {self.attention!r}) and a built-in task (got {self.env_id})")
        if self.gaze_teacher > 0 and self.gaze_foveae != 1:
            raise GazelabError(f"gaze_teacher={self.gaze_teacher:g} pulls one fovea onto the goal, and gaze_foveae="
                               f"{self.gaze_foveae} has several (use gaze_foveae=1)")
        if self.gaze_teacher_cnn and not self.gaze_teacher:
            raise GazelabError("gaze_teacher_cnn=True lets the teacher train the CNN too, and gaze_teacher=0 is no "
                               "teacher; give gaze_teacher > 0")
        if self.gaze_teacher > 0 and self.augment != "none":
            raise GazelabError(f"gaze_teacher={self.gaze_teacher:g} with augment={self.augment!r}: the shift moves the "
                               "goal in the image but not its true position; use augment='none'")
        if self.gaze_lr_scale != 1.0 and self.attention not in ("gaze", "patch"):
            raise GazelabError(f"gaze_lr_scale={self.gaze_lr_scale} needs a learned attention head, but "
                               f"attention={self.attention!r}; use 'gaze' or 'patch', or gaze_lr_scale=1")
        buffer_size = self.contrastive_config.buffer_size
        if self.contrastive and 0 < buffer_size < self.batch_size:
            raise GazelabError(f"contrastive.buffer_size={buffer_size} is smaller than one batch "
                               f"(num_envs * num_steps = {self.batch_size}); use >= {self.batch_size} or 0 "
                               "(this iteration's batch only)")

    def _check_minibatch_split(self) -> None:
        """GazelabError unless every minibatch holds >= 2 samples: norm_adv divides a minibatch's advantages by their
        std, which one sample does not have (torch: nan), so the loss and then every weight would turn nan. The
        split is ppo_rgb's: minibatches of ``minibatch_size`` and, when that does not divide the batch, a last one
        of the rest."""
        size, rest = self.minibatch_size, self.batch_size % self.minibatch_size
        if size >= 2 and rest != 1:
            return
        batch = f"batch_size = num_envs * num_steps = {self.batch_size}"
        where = (f"leaves minibatches of {size} sample ({batch})" if size < 2 else
                 f"leaves a minibatch of 1 sample ({batch} splits into minibatches of {size} and a last one of 1)")
        divisors = [m for m in range(1, self.batch_size // 2 + 1) if self.batch_size % m == 0]
        raise GazelabError(
            f"num_minibatches={self.num_minibatches} {where}: with norm_adv=True a one-sample minibatch has no "
            f"advantage std and the loss turns nan; use a num_minibatches that divides {self.batch_size} into "
            f"minibatches of >= 2: {', '.join(map(str, divisors))}")


def parameter_groups(agent: PPOAgent, learning_rate: float, gaze_lr_scale: float) -> list[dict]:
    """PPO's optimizer groups, each with its ``lr`` and its ``lr_scale`` (the factor on ``learning_rate`` that
    annealing keeps): one group of all parameters, or, when ``gaze_lr_scale`` != 1, the attention head's parameters
    in a second group at that scale."""
    if gaze_lr_scale == 1.0:
        return [{"params": list(agent.parameters()), "lr": learning_rate, "lr_scale": 1.0}]
    gaze = list(agent.image.attention.parameters())
    ids = {id(p) for p in gaze}
    rest = [p for p in agent.parameters() if id(p) not in ids]
    return [{"params": rest, "lr": learning_rate, "lr_scale": 1.0},
            {"params": gaze, "lr": learning_rate * gaze_lr_scale, "lr_scale": gaze_lr_scale}]


def build_agent(config: PPOConfig, spaces) -> PPOAgent:
    """The PPOAgent for the observation and action spaces of ``spaces``: an env or a
    :class:`gazelab.rl.checkpoint.EnvSpaces` (e.g. from a checkpoint)."""
    obs_space = spaces.single_observation_space
    return PPOAgent(
        image_size=obs_space["rgb"].shape[0],
        state_dim=obs_space["state"].shape[0] if "state" in obs_space.spaces else 0,
        action_dim=int(np.prod(spaces.single_action_space.shape)),
        encoder=config.encoder, attention=config.attention, gaze_rl_grad=config.gaze_rl_grad,
        centre_input=config.gaze_centre_input, **config.attention_options(),
        include_state=config.include_state and "state" in obs_space.spaces,
    )


def train_ppo(config: PPOConfig, *, gae_fn=gae, contrastive_hook=ppo_hook) -> TrainResult:
    """Train PPO (optionally with attention and the contrastive gaze update); see the module docstring.

    ``gae_fn`` (the signature of :func:`gazelab.method.returns.gae`) computes the advantages and ``contrastive_hook`` (that
    of :func:`gazelab.method.plugin.ppo_hook`) hands each iteration to the plug-in: notebook 6 runs PPO on the student's GAE.
    """
    with Run(config) as run:
        config, device = run.config, run.device  # the resolved config: per-task defaults filled in
        # env setup: training envs, and evaluation envs on another seed so their episodes differ
        envs = run.attach(make_env(config.env_id, config.num_envs, seed=config.seed, device=device,
                                   **config.env_kwargs()))
        eval_envs = run.attach(make_env(config.env_id, config.num_eval_envs, seed=config.seed + 1, device=device,
                                        **config.env_kwargs()), evaluation=True) if config.eval_freq else None

        agent = build_agent(config, envs).to(device)
        # fused=True: the same Adam update in one kernel; the default per-tensor loop was ~90x slower on 2 CPU cores.
        optimizer = optim.Adam(parameter_groups(agent, config.learning_rate, config.gaze_lr_scale),
                               eps=1e-5, fused=True)
        curl, curl_optimizer = curl_for(config, agent.image.cnn, config.learning_rate, device, eps=1e-5)
        taught_cnn = [{"params": agent.image.cnn.parameters(), "lr": config.learning_rate}] if config.gaze_teacher_cnn \
            else []
        teacher_optimizer = optim.Adam([{"params": agent.image.attention.parameters(), "lr": config.gaze_teacher},
                                        *taught_cnn]) if config.gaze_teacher else None
        contrastive = config.contrastive_plugin(agent.image, envs.max_episode_steps, device,
                                                rollout_steps=config.num_steps)
        gaze = GazeTracker(agent.image.cnn)

        # ALGO Logic: Storage setup
        n, t_max = config.num_envs, config.num_steps
        obs_space, action_shape = envs.single_observation_space, envs.single_action_space.shape
        obs = {k: torch.zeros((t_max, n) + space.shape, dtype=torch.uint8 if k == "rgb" else torch.float32,
                              device=device) for k, space in obs_space.spaces.items()}
        actions = torch.zeros((t_max, n) + action_shape, device=device)
        logprobs = torch.zeros((t_max, n), device=device)
        rewards = torch.zeros((t_max, n), device=device)
        dones = torch.zeros((t_max, n), device=device)
        values = torch.zeros((t_max, n), device=device)

        # TRY NOT TO MODIFY: start the game (a resumed run continues where its checkpoint stopped)
        loop = LoopState(next_obs=envs.reset(seed=config.seed)[0], next_done=torch.zeros(n, device=device))
        run.track(agent=agent, optimizer=optimizer, contrastive=contrastive, curl=curl, curl_optimizer=curl_optimizer,
                  envs=envs, eval_envs=eval_envs, loop=loop,
                  **({"teacher_optimizer": teacher_optimizer} if teacher_optimizer else {}))
        if run.resumed and not is_builtin(config.env_id):  # ManiSkill's simulator state is not saved: new episodes
            loop.next_obs, _ = envs.reset(seed=config.seed + run.start_step)
            if contrastive:
                contrastive.restart_episodes()
        global_step = run.start_step
        for iteration in range(run.start_iteration + 1, config.num_iterations + 1):
            final_values = torch.zeros((t_max, n), device=device)
            agent.eval()
            # Annealing the rate if instructed to do so.
            if config.anneal_lr:
                frac = 1.0 - (iteration - 1.0) / config.num_iterations
                for group in optimizer.param_groups:
                    group["lr"] = frac * config.learning_rate * group.get("lr_scale", 1.0)  # older checkpoints: none
            for step in range(t_max):
                global_step += n
                for k in obs:
                    obs[k][step] = loop.next_obs[k]
                dones[step] = loop.next_done

                # ALGO LOGIC: action logic
                with torch.no_grad():
                    action, logprob, _, value, image = agent.get_action_and_value(loop.next_obs)
                    values[step] = value.flatten()
                actions[step] = action
                logprobs[step] = logprob
                gaze.add(image.attention, loop.next_obs.get("prize"))

                # TRY NOT TO MODIFY: execute the game and log data.
                loop.next_obs, reward, terminations, truncations, infos = envs.step(action)
                loop.next_done = torch.logical_or(terminations, truncations).to(torch.float32).to(device)
                rewards[step] = reward.to(device).view(-1) * config.reward_scale
                if contrastive:  # the gaze plug-in sees the maps the policy acted on, with what followed
                    contrastive.observe(image.fmap, rewards[step], loop.next_done.bool(), episode_success(infos, n))

                if "final_info" in infos:
                    run.record_episodes(infos)
                    done_mask = infos["_final_info"].to(device)
                    final_obs = {k: v[done_mask] for k, v in infos["final_observation"].items()}
                    with torch.no_grad():
                        final_values[step, torch.arange(n, device=device)[done_mask]] = agent.get_value(final_obs).view(-1)

            # bootstrap value according to termination and truncation
            with torch.no_grad():
                next_value = agent.get_value(loop.next_obs).view(-1)
                advantages = gae_fn(rewards, values, dones, final_values, next_value, loop.next_done, config.gamma,
                                    config.gae_lambda)
                returns = advantages + values

            # flatten the batch
            b_obs = {k: v.flatten(0, 1) for k, v in obs.items()}
            b_logprobs = logprobs.reshape(-1)
            b_actions = actions.reshape((-1,) + action_shape)
            b_advantages = advantages.reshape(-1)
            b_returns = returns.reshape(-1)
            b_values = values.reshape(-1)

            # Optimizing the policy and value network
            agent.train()
            b_inds = np.arange(config.batch_size)
            clipfracs = []
            for epoch in range(config.update_epochs):
                np.random.shuffle(b_inds)
                for start in range(0, config.batch_size, config.minibatch_size):
                    mb_inds = b_inds[start:start + config.minibatch_size]

                    mb_raw = {k: v[mb_inds] for k, v in b_obs.items()}
                    mb_obs = augment_obs(mb_raw, config.augment, config.augment_pad)
                    _, newlogprob, entropy, newvalue, image = agent.get_action_and_value(mb_obs, b_actions[mb_inds])
                    logratio = newlogprob - b_logprobs[mb_inds]
                    ratio = logratio.exp()

                    with torch.no_grad():
                        # calculate approx_kl http://joschu.net/blog/kl-approx.html
                        approx_kl = ((ratio - 1) - logratio).mean()
                        clipfracs += [((ratio - 1.0).abs() > config.clip_coef).float().mean().item()]

                    if config.target_kl is not None and approx_kl > config.target_kl:
                        break

                    mb_advantages = b_advantages[mb_inds]
                    if config.norm_adv:
                        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

                    # Policy loss
                    pg_loss1 = -mb_advantages * ratio
                    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - config.clip_coef, 1 + config.clip_coef)
                    pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                    # Value loss
                    newvalue = newvalue.view(-1)
                    if config.clip_vloss:
                        v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                        v_clipped = b_values[mb_inds] + torch.clamp(newvalue - b_values[mb_inds],
                                                                    -config.clip_coef, config.clip_coef)
                        v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                        v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                    else:
                        v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()

                    entropy_loss = entropy.mean()
                    loss = pg_loss - config.ent_coef * entropy_loss + v_loss * config.vf_coef

                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
                    optimizer.step()
                    if teacher_optimizer:  # the diagnostic teacher: the head alone, on the maps PPO just used
                        fmap = agent.image.cnn(mb_obs["rgb"]) if config.gaze_teacher_cnn else image.fmap
                        taught = teacher_loss(agent.image.attention, fmap, mb_obs["prize"], agent.image.cnn,
                                              detach=not config.gaze_teacher_cnn)
                        teacher_optimizer.zero_grad()
                        taught.backward()
                        teacher_optimizer.step()
                    if curl:  # CURL: tell each image from the minibatch's others, from two shifts of it
                        curl_loss, curl_accuracy = curl.step(agent.image.cnn, mb_raw["rgb"], curl_optimizer)

                if config.target_kl is not None and approx_kl > config.target_kl:
                    break

            # the gaze plug-in: the rollout's maps labelled with these returns, then the contrastive update when due
            if contrastive and contrastive.learner.encoder is not None:  # encoder_lr: maps recomputed from frames
                contrastive.see_rollout(b_obs["rgb"])
            scalars = contrastive_hook(contrastive, advantages, values, iteration) if contrastive else {}

            y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
            var_y = np.var(y_true)
            explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
            scalars.update({
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "losses/value": v_loss.item(), "losses/policy": pg_loss.item(),
                "losses/entropy": entropy_loss.item(), "losses/approx_kl": approx_kl.item(),
                "losses/clipfrac": np.mean(clipfracs), "losses/explained_variance": explained_var,
                **{f"gaze/{k}": v for k, v in gaze.scalars().items()},
                **({"losses/curl": curl_loss.item(), "losses/curl_accuracy": curl_accuracy.item()} if curl else {}),
                **({"losses/gaze_teacher": taught.item()} if teacher_optimizer else {}),
            })
            run.check_finite(iteration, scalars, {"agent": agent})
            last = iteration == config.num_iterations
            film = None
            if run.eval_due(iteration, last):
                agent.eval()
                film = run.video_film(last, agent.image.cnn)  # None unless capture_video and one is due
                metrics = evaluate_policy(agent.act, eval_envs, config.num_eval_episodes, cnn=agent.image.cnn,
                                          film=film)
                scalars.update({f"eval/{k}": v for k, v in metrics.items()})
            run.log_iteration(global_step, iteration, scalars, video=film)
            if run.end_iteration(global_step, iteration, last):
                break
    return run.result()
