"""Built-in tabletop tasks: interface, seeding, auto-reset metrics, clutter independence, solvability."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from gazelab.envs import CLUTTER_LADDER, CLUTTER_NAMES, TRANSFER_LEVELS, SingleEnv, list_envs, make_env
from gazelab.envs.clutter import CLUTTER_LEVELS, MIN_COLOUR_DISTANCE
from gazelab.envs.raster import DISC, SpriteRasterizer, pack, unpack
from gazelab.envs.tabletop import (BLOCK_COLOUR, BLOCK_HALF, GOAL_COLOUR, GOAL_DRAWN_RADIUS, GRIPPER_COLOUR,
                                   GRIPPER_RADIUS)

BUILTIN = list_envs("builtin")
CLEAN_AND_CLUTTERED = [("gazelab/Reach-v0", "gazelab/ReachClutter-v0"),
                       ("gazelab/ReachFar-v0", "gazelab/ReachFarClutter-v0"),
                       ("gazelab/Push-v0", "gazelab/PushClutter-v0")]


def random_actions(steps, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(steps, n, 2, generator=g) * 2 - 1


def test_registry_lists_both_families():
    ids = list_envs()
    assert {"gazelab/Reach-v0", "gazelab/Push-v0", "gazelab/ReachClutter-v0", "gazelab/PushClutter-v0",
            "gazelab/ReachFar-v0", "PushCube-v1", "PickCube-v1", "PushT-v1", "PokeCube-v1",
            "gazelab/PushCubeClutter-v1"} <= set(ids)
    assert "gazelab/ReachLampClutter-v0" in ids
    assert all("Clutter" in i for i in ids if i not in ("gazelab/Reach-v0", "gazelab/ReachFar-v0", "gazelab/Push-v0")
               and i.startswith("gazelab/"))


def test_unknown_id_lists_known_ids():
    with pytest.raises(ValueError) as err:
        make_env("gazelab/Nope-v0")
    for env_id in list_envs():
        assert env_id in str(err.value)


@pytest.mark.parametrize("kwargs, word", [
    (dict(num_envs=0), "num_envs"), (dict(num_envs=2.5), "num_envs"), (dict(image_size=4), "image_size"),
    (dict(image_size=4096), r"image_size must be an int in \[16, 512\]"),
    (dict(clutter="extreme"), "clutter"), (dict(clutter=7), "clutter"), (dict(colour="red"), "colour"),
])
def test_bad_kwargs_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_env("gazelab/ReachClutter-v0", **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_envs=0), "num_envs must be an int >= 1, got 0"), (dict(num_envs=-3), "num_envs must be an int >= 1"),
    (dict(image_size=4096), r"image_size must be an int in \[16, 512\], got 4096"),
])
def test_gym_make_checks_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("gazelab/Reach-v0", **kwargs)


def test_bad_action_shape_raises():
    env = make_env("gazelab/Reach-v0", num_envs=3, seed=0)
    env.reset()
    with pytest.raises(ValueError, match="action"):
        env.step(torch.zeros(3, 4))


def test_non_finite_actions_are_rejected_naming_the_envs():
    env = make_env("gazelab/Reach-v0", num_envs=4, seed=0)
    env.reset()
    action = torch.zeros(4, 2)
    action[1, 0], action[3, 1] = float("nan"), float("inf")
    with pytest.raises(ValueError, match=r"non-finite.*\[1, 3\]"):
        env.step(action)
    _, reward, _, _, _ = env.step(torch.zeros(4, 2))  # the env is untouched and keeps working
    assert torch.isfinite(reward).all()


@pytest.mark.parametrize("env_id", BUILTIN)
def test_interface(env_id):
    n = 5
    env = make_env(env_id, num_envs=n, seed=0, device="cpu")
    assert env.num_envs == n and env.env_id == env_id and env.max_episode_steps == 50
    assert env.device == torch.device("cpu")
    space = env.single_observation_space
    assert isinstance(space, gym.spaces.Dict)
    assert space["rgb"].shape == (64, 64, 3) and space["rgb"].dtype == np.uint8
    assert space["state"].shape == (4,) and space["state"].dtype == np.float32
    act = env.single_action_space
    assert act.shape == (2,) and act.dtype == np.float32 and (act.low == -1).all() and (act.high == 1).all()
    obs, info = env.reset()
    assert obs["rgb"].shape == (n, 64, 64, 3) and obs["rgb"].dtype == torch.uint8 and obs["rgb"].is_contiguous()
    assert obs["state"].shape == (n, 4) and obs["state"].dtype == torch.float32
    assert info["success"].shape == (n,) and info["success"].dtype == torch.bool
    obs, reward, terminated, truncated, info = env.step(torch.zeros(n, 2))
    assert reward.shape == (n,) and reward.dtype == torch.float32
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool
    assert ((reward >= 0) & (reward <= 1)).all()
    assert space["rgb"].contains(obs["rgb"][0].numpy())
    # state is proprioception only: gripper position and velocity, nothing about goal or block
    torch.testing.assert_close(obs["state"], torch.cat([env.gripper, env.velocity], 1))


def test_image_size_option():
    env = make_env("gazelab/PushClutter-v0", num_envs=2, seed=0, image_size=96)
    obs, _ = env.reset()
    assert obs["rgb"].shape == (2, 96, 96, 3) and env.single_observation_space["rgb"].shape == (96, 96, 3)


def rollout(env_id, seed, steps=70, n=8, **kwargs):
    env = make_env(env_id, num_envs=n, seed=seed, **kwargs)
    obs, _ = env.reset()
    frames, rewards, flags = [obs["rgb"]], [], []
    for a in random_actions(steps, n):
        obs, r, te, tr, info = env.step(a)
        frames.append(obs["rgb"])
        rewards.append(r)
        flags.append(torch.stack([te, tr, info["success"]]))
    return torch.stack(frames), torch.stack(rewards), torch.stack(flags)


@pytest.mark.parametrize("env_id", ["gazelab/Push-v0", "gazelab/ReachClutter-v0"])
def test_seeding_is_deterministic(env_id):
    a, b, c = rollout(env_id, 7), rollout(env_id, 7), rollout(env_id, 8)
    for x, y in zip(a, b):  # 70 steps cross an episode boundary, so auto-resets are covered too
        assert torch.equal(x, y)
    assert not torch.equal(a[0][0], c[0][0])
    assert not torch.equal(a[1], c[1])


def test_reset_with_seed_restarts_the_stream():
    env = make_env("gazelab/PushClutter-v0", num_envs=4, seed=0)
    first, _ = env.reset(seed=3)
    env.step(torch.ones(4, 2))
    again, _ = env.reset(seed=3)
    assert torch.equal(first["rgb"], again["rgb"]) and torch.equal(first["state"], again["state"])


@pytest.mark.parametrize("env_id", ["gazelab/Reach-v0", "gazelab/PushClutter-v0"])
def test_autoreset_keeps_final_obs_and_metrics(env_id):
    n = 16
    env = make_env(env_id, num_envs=n, seed=1)
    obs, _ = env.reset()
    returns, lengths = torch.zeros(n), torch.zeros(n, dtype=torch.int64)
    succeeded = torch.zeros(n, dtype=torch.bool)
    episodes = 0
    for a in random_actions(120, n, seed=2):
        obs, r, te, tr, info = env.step(a)
        returns += r
        lengths += 1
        succeeded |= info["success"] if "final_info" not in info else info["final_info"]["success"]
        assert torch.equal(te | tr, info.get("_final_info", torch.zeros(n, dtype=torch.bool)))
        assert (tr == (lengths >= 50)).all()
        if "final_info" in info:
            done = info["_final_info"]
            ep = info["final_info"]["episode"]
            torch.testing.assert_close(ep["return"][done], returns[done])
            assert torch.equal(ep["episode_len"][done].long(), lengths[done])
            assert torch.equal(ep["success_once"][done], succeeded[done])
            assert torch.equal(te[done], info["final_info"]["success"][done])  # terminates exactly on success
            # the returned obs holds the fresh episode, the final obs the last frame of the old one
            assert (info["elapsed_steps"][done] == 0).all()
            assert not torch.equal(info["final_observation"]["rgb"][done], obs["rgb"][done])
            torch.testing.assert_close(info["final_observation"]["state"][~done], obs["state"][~done])
            episodes += int(done.sum())
            returns[done], lengths[done], succeeded[done] = 0, 0, False
    assert episodes >= n  # every env finished at least one episode (time limit 50 < 120 steps)


@pytest.mark.parametrize("clean, cluttered", CLEAN_AND_CLUTTERED)
@pytest.mark.parametrize("level", CLUTTER_NAMES[1:])
def test_clutter_changes_pixels_never_reward(clean, cluttered, level):
    frames_a, rewards_a, flags_a = rollout(clean, 5, steps=60)
    frames_b, rewards_b, flags_b = rollout(cluttered, 5, steps=60, clutter=level)
    assert torch.equal(rewards_a, rewards_b)
    assert torch.equal(flags_a, flags_b)  # terminated, truncated, success
    differs = (frames_a != frames_b).any(-1).float().mean()
    assert differs > 0.05
    # distractors move on their own: consecutive cluttered frames differ even where the task is still
    assert not torch.equal(frames_b[1], frames_b[2])


def test_clutter_level_zero_is_the_clean_image():
    a, _, _ = rollout("gazelab/Push-v0", 2, steps=5)
    b, _, _ = rollout("gazelab/PushClutter-v0", 2, steps=5, clutter=0)
    assert torch.equal(a, b)


def test_clutter_levels_are_graded_and_keep_task_objects_visible():
    shares = []
    for level in CLUTTER_LADDER[1:]:
        clean = make_env("gazelab/Push-v0", num_envs=64, seed=0)
        noisy = make_env("gazelab/Push-v0", num_envs=64, seed=0, clutter=level)
        a, _ = clean.reset()
        b, _ = noisy.reset()
        shares.append((a["rgb"] != b["rgb"]).any(-1).float().mean().item())
        # distractors are drawn behind the task objects: the gripper's centre pixel keeps its colour
        col, row = noisy.raster.to_pixels(noisy.gripper).T
        centre = b["rgb"][torch.arange(64), row, col]
        assert (centre == torch.tensor(GRIPPER_COLOUR, dtype=torch.uint8)).all()
    assert shares[0] < shares[1] < shares[2]


def _lookalike_pixels(env, frames) -> float:
    """Share of frames with a pixel close to a task colour (within 60 in RGB) outside that task object's own disc or
    square (1 px slack): a task-coloured look-alike."""
    size = frames.shape[1]
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    pixels = torch.stack([xs, ys], -1)  # (S, S, 2) image coordinates of the pixel centres
    slack = 2.0 / (size - 1)
    bad = torch.zeros(frames.shape[0], dtype=torch.bool)
    objects = [(GOAL_COLOUR, env.goal, GOAL_DRAWN_RADIUS, "disc"), (GRIPPER_COLOUR, env.gripper, GRIPPER_RADIUS, "disc"),
               (BLOCK_COLOUR, env.block, BLOCK_HALF, "square")]
    for colour, centre, radius, shape in objects:
        near_colour = (frames.float() - torch.tensor(colour, dtype=torch.float32)).norm(dim=-1) < 60
        offset = pixels[None] - centre[:, None, None]
        dist = offset.norm(dim=-1) if shape == "disc" else offset.abs().amax(-1)
        bad |= (near_colour & (dist > radius + slack)).flatten(1).any(1)
    return bad.float().mean().item()


@pytest.mark.parametrize("level", CLUTTER_LADDER[1:] + TRANSFER_LEVELS)
def test_no_graded_level_shows_a_task_coloured_lookalike(level):
    """Clutter distracts, never deceives: over 30 steps of 64 Push envs (goal, block and gripper all drawn), no
    pixel outside a task object has that object's colour; random distractor colours keep their distance (also on
    the transfer levels: what changes there is the table, the crowd or the grain, never a look-alike)."""
    env = make_env("gazelab/Push-v0", num_envs=64, seed=1, clutter=level)
    obs, _ = env.reset()
    for a in random_actions(30, 64, seed=2):
        assert _lookalike_pixels(env, obs["rgb"]) == 0.0
        obs, *_ = env.step(a)
    gap = torch.cdist(env.clutter.colours.float().view(-1, 3), env.clutter.task_colours.float()).min()
    assert gap >= MIN_COLOUR_DISTANCE


def test_the_lookalike_level_does_show_task_coloured_twins():
    """The named partial-observability level is the one place with look-alikes (the detector above does fire)."""
    env = make_env("gazelab/Push-v0", num_envs=64, seed=1, clutter="lookalike")
    obs, _ = env.reset()
    assert _lookalike_pixels(env, obs["rgb"]) > 0.3
    assert "lookalike" in CLUTTER_NAMES and "lookalike" not in CLUTTER_LADDER


@pytest.mark.parametrize("env_id", ["gazelab/ReachClutter-v0", "gazelab/PushClutter-v0"])
def test_prize_observation_is_the_decisive_object(env_id):
    """The privileged 'prize' key: the goal (reach) or the block-goal midpoint (push), also after auto-reset."""
    env = make_env(env_id, num_envs=8, seed=0)
    obs, _ = env.reset()
    assert env.single_observation_space["prize"].shape == (2,)
    for a in random_actions(60, 8):
        expected = env.goal if "Reach" in env_id else (env.block + env.goal) / 2
        torch.testing.assert_close(obs["prize"], expected)
        parts = [env.goal, env.gripper] if "Reach" in env_id else [env.block, env.goal]
        torch.testing.assert_close(obs["prize_parts"], torch.stack(parts, 1))
        obs, *_ = env.step(a)


@pytest.mark.parametrize("env_id", ["gazelab/Reach-v0", "gazelab/ReachFar-v0", "gazelab/Push-v0",
                                    "gazelab/PushClutter-v0"])
def test_oracle_succeeds_random_mostly_fails(env_id):
    n = 128

    def first_episode_success(policy):
        env = make_env(env_id, num_envs=n, seed=0)
        env.reset()
        success, finished = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
        for a in random_actions(50, n, seed=3):
            _, _, _, _, info = env.step(env.oracle_action() if policy == "oracle" else a)
            if "final_info" in info:
                new = info["_final_info"] & ~finished
                success[new] = info["final_info"]["episode"]["success_once"][new]
                finished |= info["_final_info"]
        assert finished.all()  # 50 steps = the time limit: every env has ended its first episode
        return success.float().mean().item()

    assert first_episode_success("oracle") > 0.95
    assert first_episode_success("random") < 0.3


@pytest.mark.parametrize("env_id", ["gazelab/Reach-v0", "gazelab/ReachClutter-v0"])
def test_sparse_reward_is_one_exactly_on_success_and_changes_nothing_else(env_id):
    _, dense, flags_dense = rollout(env_id, 16, steps=120)
    frames_a, sparse, flags_sparse = rollout(env_id, 16, steps=120, reward_mode="sparse")
    frames_b, *_ = rollout(env_id, 16, steps=120)
    assert torch.equal(frames_a, frames_b) and torch.equal(flags_dense, flags_sparse)
    success = flags_sparse[:, 0]  # terminated = succeeded at this step (info["success"] already shows the reset)
    assert success.any() and torch.equal(sparse, success.float())
    assert ((dense > 0) & (dense < 1)).any()  # the shaped reward varies where the sparse one is 0
    with pytest.raises(ValueError, match="reward_mode must be one of 'normalized_dense', 'sparse', got 'dense'"):
        make_env(env_id, reward_mode="dense")


def test_reach_reward_shaping_rewards_progress():
    env = make_env("gazelab/ReachFar-v0", num_envs=32, seed=0)
    env.reset()
    _, r_toward, _, _, _ = env.step(env.oracle_action())
    env.reset(seed=0)
    _, r_away, _, _, _ = env.step(-env.oracle_action())
    assert (r_toward > r_away).all()


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_tensors_live_on_the_requested_device(device):
    """Device-generic: observations, rewards and flags come back on the device the env was made for."""
    env = make_env("gazelab/PushClutter-v0", num_envs=4, seed=0, device=device)
    obs, _ = env.reset()
    obs, r, terminated, truncated, _ = env.step(torch.zeros(4, 2, device=device))
    assert {t.device.type for t in (obs["rgb"], obs["state"], r, terminated, truncated)} == {device}


@pytest.mark.parametrize("level", ["medium", "heavy"])
def test_drawn_frames_show_the_topmost_shape_of_the_layer_map(level):
    """Painter's-order drawing == colouring every pixel by the topmost shape's palette entry (or the background)."""
    env = make_env("gazelab/Push-v0", num_envs=16, seed=4, clutter=level)
    env.reset()
    for _ in range(3):
        env.step(torch.rand(16, 2) * 2 - 1)
    objects = torch.stack([env.goal, env.block, env.gripper], 1)
    centers = torch.cat([env.clutter.pos, objects], 1)
    sprite_ids = torch.cat([env.clutter.sprite_ids, env._task_sprite_ids], 1)
    palette = torch.cat([env._table, pack(env.clutter.colours), env._task_palette], 1)
    layers = env.raster.layer_map(centers, sprite_ids).long()
    expected = torch.where(layers == 0, env.clutter.background(), torch.gather(palette, 1, layers))
    drawn = env.render()
    assert torch.equal(drawn, unpack(expected).view(16, 64, 64, 3))
    assert (layers > 0).float().mean() > 0.1  # shapes do cover the image: the comparison is not vacuous


def test_shapes_outside_the_image_are_clipped_or_invisible():
    """A disc half over the border shows its inner half; one far outside draws nothing (and does not crash)."""
    raster = SpriteRasterizer([(DISC, 0.3)], 32, torch.device("cpu"))
    palette = pack(torch.tensor([[[0, 0, 0], [255, 0, 0]]], dtype=torch.uint8).expand(3, -1, -1).contiguous())
    centers = torch.tensor([[[1.0, 0.0]], [[5.0, -7.0]], [[-1.2, 0.0]]])
    img = raster.draw(centers, torch.zeros(3, 1, dtype=torch.long), palette)
    red = img[..., 0] == 255
    assert red[0, :, -1].any() and not red[0, :, :16].any()  # clipped at the right border
    assert not red[1].any()
    assert red[2, :, 0].any() and not red[2, :, 8:].any()  # 0.2 outside on the left: a sliver remains
    torch.testing.assert_close(raster.layer_map(centers, torch.zeros(3, 1, dtype=torch.long)).view(3, 32, 32) > 0, red)


@pytest.mark.parametrize("env_id", BUILTIN)
def test_gym_make_returns_the_batched_env_with_batched_and_single_spaces(env_id):
    env = gym.make(env_id, num_envs=3, seed=0, device="cpu")
    assert env is env.unwrapped and env.spec.id == env.env_id == env_id and env.num_envs == 3
    assert env.observation_space["rgb"].shape == (3, 64, 64, 3) and env.action_space.shape == (3, 2)
    assert env.single_observation_space["rgb"].shape == (64, 64, 3) and env.single_action_space.shape == (2,)
    obs, _ = env.reset()
    same, _ = make_env(env_id, 3, seed=0, device="cpu").reset()
    assert all(torch.equal(obs[k], same[k]) for k in obs)
    assert obs["rgb"].shape == env.observation_space["rgb"].shape


# The checker's warnings, not failures: the state vector (positions and velocities) is declared unbounded, and a view
# has no gymnasium spec of its own to re-make it in other render modes (it has only one).
@pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning", "ignore:.*not having a spec:UserWarning")
@pytest.mark.parametrize("env_id", BUILTIN)
def test_the_single_env_view_passes_gymnasiums_env_checker(env_id):
    env = SingleEnv(make_env(env_id, 1, seed=0, device="cpu"))
    check_env(env)
    obs, _ = env.reset(seed=1)
    assert obs in env.observation_space and env.render().shape == (64, 64, 3)
    for _ in range(env.env.max_episode_steps):  # an episode ends instead of restarting: the caller resets
        obs, reward, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
        if terminated or truncated:
            break
    assert truncated and info["episode"]["episode_len"] == env.env.max_episode_steps
    assert obs in env.observation_space and isinstance(reward, float)


@pytest.mark.parametrize("env_id", ["gazelab/ReachClutter-v0", "gazelab/Push-v0"])
def test_state_dict_continues_the_batch_exactly(env_id):
    """A snapshot loaded into a fresh env (another seed) plays on exactly like the env it was taken from."""
    actions = random_actions(60, 4, seed=2)  # long enough for episodes to end and restart
    env, copy = make_env(env_id, 4, seed=0, device="cpu"), make_env(env_id, 4, seed=99, device="cpu")
    env.reset()
    copy.reset()
    for action in actions[:20]:
        env.step(action)
    copy.load_state_dict(env.state_dict())
    for action in actions[20:]:
        obs, reward, *_ = env.step(action)
        obs_copy, reward_copy, *_ = copy.step(action)
        assert torch.equal(reward, reward_copy) and all(torch.equal(obs[k], obs_copy[k]) for k in obs)


def _scenes(env) -> set:
    """The distinct clutter states (distractors and texture) of a batch, as hashable tuples."""
    c = env.clutter
    state = torch.cat([c.pos.flatten(1), c.vel.flatten(1), c.colours.flatten(1).float(), c.phase, c.tint.flatten(1)], 1)
    return {tuple(row.tolist()) for row in state}


def test_fixed_scenes_replay_the_same_clutter_in_every_episode():
    """'mild-scenes': every episode replays one of 4 fixed scenes, the same 4 for every seed, so the clutter no longer
    tells episodes apart; 'mild' gives every episode its own (rewards as clean: test_clutter_changes_pixels_never_reward)."""
    fixed = make_env("gazelab/ReachClutter-v0", num_envs=64, seed=1, clutter="mild-scenes")
    fixed.reset()
    scenes = _scenes(fixed)
    assert len(scenes) == 4
    other_seed = make_env("gazelab/ReachClutter-v0", num_envs=64, seed=7, clutter="mild-scenes")
    other_seed.reset()
    assert _scenes(other_seed) == scenes
    for a in random_actions(120, 64, seed=3):  # episodes end and restart on their own: still the same scenes
        fixed.step(a)
    fixed.reset()
    assert _scenes(fixed) == scenes
    mild = make_env("gazelab/ReachClutter-v0", num_envs=64, seed=1, clutter="mild")
    mild.reset()
    assert len(_scenes(mild)) == 64


def test_each_transfer_level_changes_one_thing_of_mild():
    """The generalisation test's unseen clutter: the same task episodes as mild, with the table's colour, the number of
    shapes or the background grain changed, and nothing else."""
    frames = {}
    for level in ("mild",) + TRANSFER_LEVELS:
        env = make_env("gazelab/ReachClutter-v0", num_envs=16, seed=3, clutter=level)
        obs, _ = env.reset()
        frames[level] = obs["rgb"]
        spec = env.clutter.spec
        if level == "mild-crowded":
            assert spec.num_shapes == 3 * CLUTTER_LEVELS["mild"].num_shapes
        if level == "mild-grain":
            assert spec.noise_bits > 0 and env.clutter.noise is not None
    corner = lambda rgb: rgb[:, :2, :2].float().mean((0, 1, 2))  # noqa: E731  (the table shows at the corners)
    assert (corner(frames["mild-table"]) - corner(frames["mild"])).norm() > 40
    assert (corner(frames["mild-grain"]) - corner(frames["mild"])).norm() < 20  # grain, not a new colour
    for level in TRANSFER_LEVELS:
        assert not torch.equal(frames[level], frames["mild"])


def test_goal_lamp_decides_the_reward_and_shows_on_the_goal():
    """ReachLampClutter: the lamp switches at its rate, a dark goal is drawn dark and pays LAMP_OFF_REWARD of the
    reward, success ignores it; the same seed without a lamp plays the same positions."""
    from gazelab.envs.tabletop import LAMP_OFF_COLOUR, LAMP_OFF_REWARD
    n, steps = 64, 40
    lamp = make_env("gazelab/ReachLampClutter-v0", num_envs=n, seed=3, device="cpu", clutter="none")
    plain = make_env("gazelab/Reach-v0", num_envs=n, seed=3, device="cpu")
    obs, _ = lamp.reset(seed=3)
    plain.reset(seed=3)
    assert 0.3 < lamp.lamp_on.float().mean() < 0.7 and plain.lamp_on.all()
    switches, was = 0, lamp.lamp_on.clone()
    for t in range(steps):
        action = lamp.oracle_action() * 0.3  # slow: most episodes last the whole window
        goal, on = lamp.goal.clone(), lamp.lamp_on.clone()
        # the goal's centre pixel has the lit or the dark colour, as the lamp says
        s = obs["rgb"].shape[1]
        px = ((goal + 1) / 2 * s).long().clamp(0, s - 1)
        centre = obs["rgb"][torch.arange(n), px[:, 1], px[:, 0]]
        gripper_far = (lamp.gripper - goal).norm(dim=-1) > 0.3
        expected = torch.where(on[:, None], torch.tensor(GOAL_COLOUR), torch.tensor(LAMP_OFF_COLOUR)).to(torch.uint8)
        assert (centre[gripper_far] == expected[gripper_far]).all()
        obs, r_lamp, term_lamp, _, _ = lamp.step(action)
        on_after = lamp.lamp_on.clone()
        _, r_plain, term_plain, _, _ = plain.step(action)
        assert torch.equal(term_lamp, term_plain)  # success does not depend on the lamp
        torch.testing.assert_close(lamp.goal, plain.goal)  # the lamp's draws leave the task's stream alone
        # the reward counts the lamp of the step's end (a reset then redraws it: only where the episode lives on)
        torch.testing.assert_close(r_lamp[~term_lamp], torch.where(on_after, r_plain, LAMP_OFF_REWARD * r_plain)[~term_lamp])
        switches += int((lamp.lamp_on != was)[~term_lamp].sum())
        was = lamp.lamp_on.clone()
    rate = switches / (n * steps)
    assert 0.06 < rate < 0.14, rate  # lamp_switch = 0.1


def test_a_lamp_needs_a_reach_task():
    from gazelab.envs.tabletop import TaskSpec
    with pytest.raises(ValueError, match="lamp_switch=0.1 with kind='push'"):
        TaskSpec("push", goal_distance=(0.3, 0.6), lamp_switch=0.1)
    with pytest.raises(ValueError, match="lamp_switch=1.5"):
        TaskSpec("reach", goal_distance=(0.3, 0.6), lamp_switch=1.5)
