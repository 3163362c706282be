"""PPO from pixels, as ManiSkill3's ``examples/baselines/ppo/ppo_rgb.py`` (CleanRL style), with a gaze plug-in.

The algorithm is :func:`train_ppo`, one function, read top to bottom:

1. **Rollout** ``num_steps`` x ``num_envs`` steps with the current policy; store obs, actions, log-probs,
   rewards, dones, values; the value of ``final_observation`` bootstraps episodes that ended (ManiSkill's
   ``final_values``, correct for truncations and early terminations alike).
2. **GAE** (gamma, lambda) -> advantages; returns = advantages + values.
3. **Update** ``update_epochs`` epochs of ``num_minibatches`` minibatches: clipped surrogate, value MSE (optional
   clipping), entropy bonus, normalized advantages, global grad-norm clip, early stop when the approximate KL
   of a minibatch exceeds ``target_kl`` (ppo_rgb checks it before the step, and breaks both loops).
4. **Gaze plug-in** (only with ``contrastive=True``): the rollout's detached CNN feature maps (B = num_steps *
   num_envs, C, h, w) go to the contrastive buffer with the per-step returns of step 2, and the contrastive
   update trains the attention head (its own optimizer; nothing else changes).

With ``attention="none"`` and ``contrastive=False`` this is ppo_rgb with its defaults and, per task, the settings
of ManiSkill's ``examples.sh`` (``TASK_DEFAULTS``; the built-in tasks use ManiSkill's RGB update on a CPU-sized
batch). Differences from ppo_rgb (none changes the algorithm): Adam runs fused (same update, one kernel); no
separate ``--evaluate`` mode (``gazelab eval``); evaluation counts whole episodes instead of a fixed number of
steps; episode metrics are averaged per iteration; the finite-horizon GAE variant is left out; checkpoints carry
everything needed to resume; on CPU, ManiSkill tasks default to one env per core.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

from gazelab.agent import PPOAgent
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
    resolve_device,
    set_env_state,
    set_rng_state,
)

__all__ = ["PPOConfig", "train_ppo", "TASK_DEFAULTS", "build_agent"]

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
    "gazelab/ReachFar-v0": dict(_BUILTIN, total_timesteps=200_000),
    "gazelab/ReachFarClutter-v0": dict(_BUILTIN, total_timesteps=250_000),
    "gazelab/Push-v0": dict(_BUILTIN, total_timesteps=300_000),
    "gazelab/PushClutter-v0": dict(_BUILTIN, total_timesteps=400_000),
}


@dataclass
class PPOConfig(TrainConfig):
    """PPO hyper-parameters (ManiSkill3 ppo_rgb names and defaults) + the shared fields of TrainConfig."""

    learning_rate: float = 3e-4
    """the learning rate of the optimizer (0 freezes the RL update, e.g. to watch the contrastive step alone)"""
    num_steps: Optional[int] = None
    """the number of steps to run in each environment per policy rollout (None = per-task default)"""
    anneal_lr: bool = False
    """Toggle learning rate annealing for policy and value networks"""
    gamma: Optional[float] = None
    """the discount factor gamma (None = per-task default; ppo_rgb: 0.8)"""
    gae_lambda: float = 0.9
    """the lambda for the general advantage estimation"""
    num_minibatches: Optional[int] = None
    """the number of mini-batches (None = per-task default)"""
    update_epochs: Optional[int] = None
    """the K epochs to update the policy (None = per-task default)"""
    norm_adv: bool = True
    """Toggles advantages normalization"""
    clip_coef: float = 0.2
    """the surrogate clipping coefficient"""
    clip_vloss: bool = False
    """Toggles whether or not to use a clipped loss for the value function, as per the paper."""
    ent_coef: float = 0.0
    """coefficient of the entropy"""
    vf_coef: float = 0.5
    """coefficient of the value function"""
    max_grad_norm: float = 0.5
    """the maximum norm for the gradient clipping"""
    target_kl: Optional[float] = 0.2
    """the target KL divergence threshold (None = no early stop)"""
    reward_scale: float = 1.0
    """Scale the reward by this factor"""

    def _task_defaults(self) -> dict[str, Any]:
        defaults = {**BASE_DEFAULTS, **TASK_DEFAULTS.get(self.env_id, {})}
        if not is_builtin(self.env_id) and resolve_device(self.device).type == "cpu":
            # ManiSkill on CPU runs one simulator process per env: one per core, not the GPU's hundreds.
            defaults["num_envs"] = os.cpu_count() or 1
        return defaults

    @property
    def batch_size(self) -> int:
        """num_envs * num_steps: transitions per iteration."""
        return self.num_envs * self.num_steps

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
        for name in ("num_steps", "num_minibatches", "update_epochs"):
            check_int(name, getattr(self, name), 1)
        for name, lo, hi in (("gamma", 0.0, 1.0), ("gae_lambda", 0.0, 1.0)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and lo < value <= hi):
                raise ValueError(f"{name} must lie in ({lo}, {hi}], got {value!r}")
        for name in ("learning_rate", "ent_coef", "vf_coef", "reward_scale"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("clip_coef", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"target_kl must be > 0 or None, got {self.target_kl!r}")
        if self.num_minibatches > self.batch_size:
            raise ValueError(f"num_minibatches={self.num_minibatches} exceeds batch_size = num_envs * num_steps = "
                             f"{self.batch_size}")
        if self.total_timesteps < self.batch_size:
            raise ValueError(f"total_timesteps={self.total_timesteps} is less than one iteration (batch_size = "
                             f"num_envs * num_steps = {self.batch_size})")
        if self.contrastive and 0 < self.contrastive_buffer_size < self.batch_size:
            raise ValueError(f"contrastive_buffer_size={self.contrastive_buffer_size} is smaller than one batch "
                             f"(num_envs * num_steps = {self.batch_size}); use >= {self.batch_size} or 0 "
                             "(this iteration's batch only)")


def config_from_dict(values: dict[str, Any]) -> PPOConfig:
    """A PPOConfig from a dict such as a checkpoint's ``config`` (unknown keys are ignored)."""
    names = {f.name for f in dataclasses.fields(PPOConfig)}
    return PPOConfig(**{k: v for k, v in values.items() if k in names})


def build_agent(config: PPOConfig, env) -> PPOAgent:
    """The PPOAgent for an env's observation and action spaces."""
    obs_space = env.single_observation_space
    return PPOAgent(
        image_size=obs_space["rgb"].shape[0],
        state_dim=obs_space["state"].shape[0] if "state" in obs_space.spaces else 0,
        action_dim=int(np.prod(env.single_action_space.shape)),
        encoder=config.encoder, attention=config.attention, gaze_rl_grad=config.gaze_rl_grad,
        oracle_sigma=config.oracle_sigma,
        include_state=config.include_state and "state" in obs_space.spaces,
    )


def policy_state(checkpoint: dict) -> dict:
    """The agent's state dict inside a PPO checkpoint."""
    return checkpoint["agent"]


def train_ppo(config: PPOConfig) -> TrainResult:
    """Train PPO (optionally with attention and the contrastive gaze update); see the module docstring."""
    return launch(config, "ppo", _train)


def _train(config: PPOConfig, run: Run, envs, eval_envs) -> TrainResult:
    device = run.device
    agent = build_agent(config, envs).to(device)
    # fused=True: the same Adam update in one kernel; the default per-tensor loop was ~90x slower on 2 CPU cores.
    optimizer = optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5, fused=True)
    contrastive = ContrastivePlugin(config, agent.image, config.batch_size, device) if config.contrastive else None
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
    fmaps = (torch.zeros((t_max, n) + agent.image.feature_shape, dtype=torch.float16, device=device)
             if contrastive else None)

    # TRY NOT TO MODIFY: start the game
    global_step, start_iteration = 0, 1
    next_obs, _ = envs.reset(seed=config.seed)
    next_done = torch.zeros(n, device=device)
    if run.checkpoint is not None:
        ckpt = run.checkpoint
        agent.load_state_dict(ckpt["agent"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if contrastive:
            contrastive.load_state_dict(ckpt["contrastive"])
        global_step, start_iteration = ckpt["global_step"], ckpt["iteration"] + 1
        if set_env_state(envs, ckpt["env"]):
            next_obs = {k: v.to(device) for k, v in ckpt["next_obs"].items()}
            next_done = ckpt["next_done"].to(device)
        else:  # ManiSkill: its simulator state is not captured; start fresh episodes, seeded by the step count
            next_obs, _ = envs.reset(seed=config.seed + global_step)
        if eval_envs is not None:
            set_env_state(eval_envs, ckpt["eval_env"])
        set_rng_state(ckpt["rng"])

    def checkpoint(iteration: int):
        return run.save({
            "iteration": iteration, "agent": agent.state_dict(), "optimizer": optimizer.state_dict(),
            "contrastive": contrastive.state_dict() if contrastive else None,
            "env": env_state(envs), "eval_env": env_state(eval_envs) if eval_envs is not None else None,
            "next_obs": {k: v.cpu() for k, v in next_obs.items()}, "next_done": next_done.cpu(),
        }, global_step)

    iteration = start_iteration - 1
    run.start_clock()
    with run.interruptible():
        for iteration in range(start_iteration, config.num_iterations + 1):
            final_values = torch.zeros((t_max, n), device=device)
            agent.eval()
            # Annealing the rate if instructed to do so.
            if config.anneal_lr:
                frac = 1.0 - (iteration - 1.0) / config.num_iterations
                optimizer.param_groups[0]["lr"] = frac * config.learning_rate
            for step in range(t_max):
                global_step += n
                for k in obs:
                    obs[k][step] = next_obs[k]
                dones[step] = next_done

                # ALGO LOGIC: action logic
                with torch.no_grad():
                    action, logprob, _, value, enc = agent.get_action_and_value(next_obs)
                    values[step] = value.flatten()
                actions[step] = action
                logprobs[step] = logprob
                gaze.add(enc.attention, next_obs.get("prize"))
                if fmaps is not None:
                    fmaps[step] = enc.fmap

                # TRY NOT TO MODIFY: execute the game and log data.
                next_obs, reward, terminations, truncations, infos = envs.step(action)
                next_done = torch.logical_or(terminations, truncations).to(torch.float32).to(device)
                rewards[step] = reward.to(device).view(-1) * config.reward_scale

                if "final_info" in infos:
                    run.record_episodes(infos)
                    done_mask = infos["_final_info"].to(device)
                    final_obs = {k: v[done_mask] for k, v in infos["final_observation"].items()}
                    with torch.no_grad():
                        final_values[step, torch.arange(n, device=device)[done_mask]] = agent.get_value(final_obs).view(-1)

            # bootstrap value according to termination and truncation
            with torch.no_grad():
                next_value = agent.get_value(next_obs).reshape(1, -1)
                advantages = torch.zeros_like(rewards)
                lastgaelam = 0
                for t in reversed(range(t_max)):
                    if t == t_max - 1:
                        next_not_done = 1.0 - next_done
                        nextvalues = next_value
                    else:
                        next_not_done = 1.0 - dones[t + 1]
                        nextvalues = values[t + 1]
                    # next_not_done = 1: nextvalues come from the right next obs and final_values is 0;
                    # next_not_done = 0: the episode ended at t, final_values holds V(final observation).
                    real_next_values = next_not_done * nextvalues + final_values[t]
                    delta = rewards[t] + config.gamma * real_next_values - values[t]
                    advantages[t] = lastgaelam = delta + config.gamma * config.gae_lambda * next_not_done * lastgaelam
                returns = advantages + values

            if contrastive:  # the gaze plug-in: per-step returns with the feature maps seen at that step
                contrastive.add(fmaps.flatten(0, 1), returns.flatten())

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

                    _, newlogprob, entropy, newvalue, _ = agent.get_action_and_value(
                        {k: v[mb_inds] for k, v in b_obs.items()}, b_actions[mb_inds])
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

                if config.target_kl is not None and approx_kl > config.target_kl:
                    break

            scalars = contrastive.update(iteration) if contrastive else {}

            y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
            var_y = np.var(y_true)
            explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
            scalars.update({
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "losses/value": v_loss.item(), "losses/policy": pg_loss.item(),
                "losses/entropy": entropy_loss.item(), "losses/approx_kl": approx_kl.item(),
                "losses/clipfrac": np.mean(clipfracs), "losses/explained_variance": explained_var,
                **{f"gaze/{k}": v for k, v in gaze.scalars().items()},
            })
            last = iteration == config.num_iterations
            if eval_envs is not None and (run.due(iteration, config.eval_freq) or last):
                agent.eval()
                metrics = evaluate_policy(agent.act, eval_envs, config.num_eval_episodes, cnn=agent.image.cnn)
                scalars.update({f"eval/{k}": v for k, v in metrics.items()})
            run.log_iteration(global_step, iteration, scalars)
            if run.due(iteration, config.checkpoint_every) or last or run.stop.requested:
                checkpoint(iteration)
            if run.stop.requested:
                break
    if not run.checkpoint_file.exists() or iteration < start_iteration:
        checkpoint(iteration)  # e.g. resumed with no iteration left: still leave a consistent checkpoint
    return run.result()
