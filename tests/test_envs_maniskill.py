"""ManiSkill3 through make_env on CPU (physx_cpu + lavapipe): smoke tests kept short (64x64 camera, one env).

Creating the first ManiSkill env in a process costs ~7 s (imports, Vulkan); later ones are fast, so the envs are
module-scoped and shared.
"""

import os

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.maniskill
pytest.importorskip("mani_skill")

from gazelab.core.errors import GazelabError  # noqa: E402
from gazelab.envs import describe_env, make_env  # noqa: E402
from gazelab.envs.vulkan import VulkanUnavailableError, ensure_vulkan, find_lavapipe_icd  # noqa: E402

TASKS = ["PushCube-v1", "PickCube-v1", "PushT-v1", "PokeCube-v1", "gazelab/PushCubeClutter-v1"]


@pytest.fixture(scope="module")
def envs():
    try:
        ensure_vulkan()
    except VulkanUnavailableError as err:
        pytest.skip(str(err))
    made = {env_id: make_env(env_id, num_envs=1, seed=0, image_size=64, device="cpu") for env_id in TASKS}
    yield made
    for env in made.values():
        env.close()


def actions(env, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(steps, env.num_envs, *env.single_action_space.shape, generator=g) * 2 - 1


@pytest.mark.parametrize("env_id", TASKS)
def test_reset_and_step_render_images(envs, env_id):
    env = envs[env_id]
    assert env.env_id == env_id and env.num_envs == 1 and env.device == torch.device("cpu")
    assert describe_env(env) == "device: cpu, ManiSkill sim backend: physx_cpu, 1 env"
    assert env.max_episode_steps > 0
    space = env.single_observation_space
    assert space["rgb"].shape == (64, 64, 3) and space["rgb"].dtype == np.uint8
    assert space["state"].dtype == np.float32
    act = env.single_action_space
    assert (act.low == -1).all() and (act.high == 1).all()
    obs, info = env.reset(seed=0)
    first = obs["rgb"].clone()
    for a in actions(env, 5):
        obs, reward, terminated, truncated, info = env.step(a)
    rgb = obs["rgb"]
    assert rgb.shape == (1, 64, 64, 3) and rgb.dtype == torch.uint8
    assert rgb.float().std() > 5  # a real rendered scene, not a blank frame
    assert not torch.equal(rgb, first)  # the robot moved
    assert obs["state"].shape == (1,) + space["state"].shape and obs["state"].dtype == torch.float32
    assert reward.shape == (1,) and reward.dtype == torch.float32 and 0 <= reward.item() <= 1
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool
    assert info["success"].dtype == torch.bool


def test_clutter_changes_pixels_not_physics(envs):
    clean, cluttered = envs["PushCube-v1"], envs["gazelab/PushCubeClutter-v1"]
    results = []
    for env in (clean, cluttered):
        obs, _ = env.reset(seed=3)
        frames, rewards = [obs["rgb"]], []
        for a in actions(env, 4, seed=1):
            obs, r, te, tr, info = env.step(a)
            frames.append(obs["rgb"])
            rewards.append(r)
        results.append((torch.cat(frames), torch.cat(rewards), obs["state"]))
    torch.testing.assert_close(results[0][1], results[1][1])  # identical rewards
    torch.testing.assert_close(results[0][2], results[1][2])  # identical robot state
    assert (results[0][0] != results[1][0]).any(-1).float().mean() > 0.005


def test_reset_seed_is_reproducible(envs):
    env = envs["PushCube-v1"]
    a, _ = env.reset(seed=11)
    b, _ = env.reset(seed=11)
    c, _ = env.reset(seed=12)
    assert torch.equal(a["state"], b["state"]) and torch.equal(a["rgb"], b["rgb"])
    assert not torch.equal(a["rgb"], c["rgb"])


def test_time_limit_autoreset_metrics(envs):
    env = envs["PushCube-v1"]
    env.reset(seed=0)
    total = torch.zeros(1)
    zero = torch.zeros(1, *env.single_action_space.shape)  # standing still: PushCube is not solved, time runs out
    for t in range(env.max_episode_steps):
        obs, r, te, tr, info = env.step(zero)
        total += r
    assert tr.all() and "final_info" in info and info["_final_info"].all()
    episode = info["final_info"]["episode"]
    torch.testing.assert_close(episode["return"], total)
    assert episode["episode_len"].item() == env.max_episode_steps
    assert set(info["final_observation"]) == set(obs)


def test_cpu_vector_env_with_two_processes():
    ensure_vulkan()
    env = make_env("PushCube-v1", num_envs=2, seed=0, image_size=64, device="cpu")
    try:
        assert env.sim_backend == "physx_cpu"
        obs, info = env.reset()
        assert obs["rgb"].shape == (2, 64, 64, 3) and obs["rgb"].dtype == torch.uint8
        assert not torch.equal(obs["rgb"][0], obs["rgb"][1])  # env i is seeded with seed + i
        zero = torch.zeros(2, *env.single_action_space.shape)
        for _ in range(env.max_episode_steps):
            obs, r, te, tr, info = env.step(zero)
        assert r.dtype == torch.float32 and tr.all() and info["_final_info"].all()
        assert (info["final_info"]["episode"]["episode_len"] == env.max_episode_steps).all()
        assert info["final_observation"]["rgb"].shape == (2, 64, 64, 3)
    finally:
        env.close()


def _layout(info: dict, prefix: str = "") -> dict:
    """{key path: (type, dtype, per-env shape)} of a (nested) info dict: what code reading it relies on."""
    layout = {}
    for key, value in info.items():
        if isinstance(value, dict):
            layout.update(_layout(value, f"{prefix}{key}."))
        else:
            shape = tuple(value.shape[1:]) if isinstance(value, torch.Tensor) else None
            layout[prefix + key] = (type(value).__name__, getattr(value, "dtype", None), shape)
    return layout


def test_cpu_vector_env_has_the_layout_of_maniskill_vector_env():
    """CPUVectorEnv (2 processes) against ManiSkillEnv (1 env: the real ManiSkillVectorEnv): same info keys,
    types and dtypes after reset, after a step, and after the step where the (2-step) episodes end."""
    ensure_vulkan()
    kwargs = dict(seed=0, image_size=64, device="cpu", max_episode_steps=2)
    reference, cpu = make_env("PushCube-v1", num_envs=1, **kwargs), make_env("PushCube-v1", num_envs=2, **kwargs)
    try:
        assert type(reference).__name__ == "ManiSkillEnv" and type(cpu).__name__ == "CPUVectorEnv"
        layouts = []
        for env in (reference, cpu):
            _, reset_info = env.reset()
            zero = torch.zeros(env.num_envs, *env.single_action_space.shape)
            _, _, _, _, running = env.step(zero)
            _, reward, terminated, truncated, ended = env.step(zero)
            assert truncated.all() and "final_info" in ended
            signals = [(t.dtype, tuple(t.shape[1:])) for t in (reward, terminated, truncated)]
            layouts.append({"reset": _layout(reset_info), "step": _layout(running), "end": _layout(ended),
                            "signals": signals})
        for part in layouts[0]:
            assert layouts[1][part] == layouts[0][part], part
        assert cpu.max_episode_steps == reference.max_episode_steps == 2
    finally:
        reference.close()
        cpu.close()


def test_vulkan_error_says_what_to_install(monkeypatch):
    monkeypatch.delenv("VK_ICD_FILENAMES", raising=False)
    monkeypatch.delenv("VK_DRIVER_FILES", raising=False)
    monkeypatch.setattr("gazelab.envs.vulkan.has_nvidia", lambda: False)
    monkeypatch.setattr("gazelab.envs.vulkan.find_lavapipe_icd", lambda: None)
    with pytest.raises(VulkanUnavailableError, match="mesa-vulkan-drivers"):
        ensure_vulkan()
    monkeypatch.setattr("gazelab.envs.vulkan.find_lavapipe_icd", lambda: "/x/lvp_icd.json")
    monkeypatch.setattr("gazelab.envs.vulkan.mesa_version", lambda: (22, 3))
    with pytest.raises(VulkanUnavailableError, match="24.3"):
        ensure_vulkan()
    monkeypatch.setattr("gazelab.envs.vulkan.mesa_version", lambda: (25, 0))
    ensure_vulkan()
    assert os.environ["VK_ICD_FILENAMES"] == "/x/lvp_icd.json"


def test_user_icd_choice_is_respected(monkeypatch):
    monkeypatch.setenv("VK_ICD_FILENAMES", "/my/icd.json")
    assert "/my/icd.json" in ensure_vulkan()
    assert os.environ["VK_ICD_FILENAMES"] == "/my/icd.json"


def test_lavapipe_is_found_here():
    if find_lavapipe_icd() is None:
        pytest.skip("no lavapipe on this machine")
    assert os.path.basename(find_lavapipe_icd()).startswith("lvp_icd")


def test_maniskill_clutter_colours_keep_away_from_the_cube_and_goal():
    """Distractors distract, never deceive: no random colour within MIN_COLOUR_DISTANCE of the cube or goal."""
    from gazelab.envs.clutter import MIN_COLOUR_DISTANCE
    from gazelab.envs.maniskill_clutter import CUBE_BLUE, GOAL_RED, LOOKALIKE_SHARE, _distinct_colour

    rng = np.random.RandomState(0)
    colours = np.stack([_distinct_colour(rng) for _ in range(500)])
    gap = np.linalg.norm(colours[:, None] - np.stack([CUBE_BLUE[:3], GOAL_RED[:3]])[None], axis=-1).min() * 255
    assert gap >= MIN_COLOUR_DISTANCE
    assert [level for level, share in LOOKALIKE_SHARE.items() if share > 0] == ["lookalike"]


@pytest.mark.parametrize("level", ["mild-scenes", "mild-table"])
def test_a_builtin_only_clutter_level_is_refused_by_name(level):
    """The built-in tasks' own levels have no ManiSkill scene: one clear error naming the ones it takes, not a KeyError
    from inside scene loading."""
    from gazelab.envs.maniskill_clutter import PushCubeClutterEnv

    with pytest.raises(GazelabError, match=rf"clutter='{level}' exists for the built-in tasks only.*'lookalike'"):
        PushCubeClutterEnv(clutter=level)
