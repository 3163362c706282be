"""Return labels (hand-computed cases) and the plug-in that stores labelled maps with their episode ids."""

import pytest
import torch

from gazelab.method.attention import GaussianGaze
from gazelab.method.contrastive import ContrastiveConfig
from gazelab.method.labels import EpisodeLabeller
from gazelab.core.errors import GazelabError
from gazelab.method.plugin import ContrastivePlugin, ppo_hook
from gazelab.rl.sac import SACConfig


def _run(label):
    """Env 0: rewards 1, 2, 4 then done (succeeded); env 1: rewards 0, 1 then done (failed)."""
    labeller = EpisodeLabeller(num_envs=2, max_steps=5, feature_shape=(1, 1, 1), label=label, gamma=0.5, device="cpu")
    finished = []
    rewards = [(1.0, 0.0), (2.0, 1.0), (4.0, 7.0)]
    dones = [(False, False), (False, True), (True, False)]
    for t, (r, d) in enumerate(zip(rewards, dones)):
        fmap = torch.tensor([[[[float(t)]]], [[[10.0 + t]]]])
        finished += [(maps.flatten().tolist(), labels.clone(), int(eps[0])) for maps, labels, eps, _ in
                     labeller.observe(fmap, torch.tensor(r), torch.tensor(d), torch.tensor([True, False]))]
    return finished, labeller


@pytest.mark.parametrize("label, env1, env0", [
    ("return_to_go", [0.0 + 0.5 * 1.0, 1.0], [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4.0]),
    ("reward", [0.0, 1.0], [1.0, 2.0, 4.0]),
    ("episode_return", [1.0, 1.0], [7.0, 7.0, 7.0]),
    ("success", [0.0, 0.0], [1.0, 1.0, 1.0]),
])
def test_episode_labels_by_hand(label, env1, env0):
    (maps1, labels1, ep1), (maps0, labels0, ep0) = _run(label)[0]  # env 1 ends after 2 steps, env 0 after 3
    torch.testing.assert_close(labels1, torch.tensor(env1))
    torch.testing.assert_close(labels0, torch.tensor(env0))
    assert maps0 == [0.0, 1.0, 2.0] and maps1 == [10.0, 11.0]
    assert (ep0, ep1) == (0, 1)  # the first episodes of envs 0 and 1


def test_episode_ids_grow_and_running_episodes_survive_a_checkpoint():
    _, labeller = _run("return_to_go")
    assert labeller.episode.tolist() == [3, 2] and labeller.t.tolist() == [0, 1]  # env 1 is 1 step into episode 2
    copy = EpisodeLabeller(2, 5, (1, 1, 1), "return_to_go", 0.5, "cpu")
    copy.load_state_dict(labeller.state_dict())
    done = copy.observe(torch.zeros(2, 1, 1, 1), torch.tensor([0.0, 3.0]), torch.tensor([False, True]),
                    torch.tensor([False, False]))
    (maps, labels, episodes, times), = done
    assert episodes.tolist() == [2, 2] and times.tolist() == [0, 1] and maps.flatten().tolist() == [12.0, 0.0]
    torch.testing.assert_close(labels, torch.tensor([7.0 + 0.5 * 3.0, 3.0]))
    with pytest.raises(ValueError, match="label"):
        EpisodeLabeller(2, 5, (1, 1, 1), "gae", 0.5, "cpu")


def test_plugin_gae_labels_take_the_rollout_returns_and_episode_ids():
    plugin = ContrastivePlugin(GaussianGaze(1), (1, 2, 2), config=ContrastiveConfig(labels="gae", buffer_size=64),
                               num_envs=2, max_episode_steps=5, gamma=0.9, steps_per_iteration=6, rollout_steps=3)
    for t in range(3):  # env 0's episode ends after step 1
        plugin.observe(torch.full((2, 1, 2, 2), float(t)), torch.zeros(2), torch.tensor([t == 1, False]),
                       torch.zeros(2, dtype=torch.bool))
    returns = torch.arange(6.0).view(3, 2)
    plugin.end_rollout(returns)
    assert len(plugin.buffer) == 6
    torch.testing.assert_close(plugin.buffer.returns[:6], returns.flatten())
    assert plugin.buffer.episodes[:6].tolist() == [0, 1, 0, 1, 2, 1]  # (step, env) row-major
    with pytest.raises(ValueError, match="gae"):
        ContrastivePlugin(GaussianGaze(1), (1, 2, 2), config=ContrastiveConfig(labels="gae", buffer_size=64),
                          num_envs=2, max_episode_steps=5, gamma=0.9, steps_per_iteration=6)


def test_plugin_value_labels_take_the_rollout_values_not_the_returns():
    plugin = ContrastivePlugin(GaussianGaze(1), (1, 2, 2), config=ContrastiveConfig(labels="value", buffer_size=64),
                               num_envs=2, max_episode_steps=5, gamma=0.9, steps_per_iteration=4, rollout_steps=2)
    for t in range(2):
        plugin.observe(torch.full((2, 1, 2, 2), float(t)), torch.zeros(2), torch.zeros(2, dtype=torch.bool),
                       torch.zeros(2, dtype=torch.bool))
    values = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    ppo_hook(plugin, advantages=torch.ones(2, 2), values=values, iteration=0)
    torch.testing.assert_close(plugin.buffer.returns[:4], values.flatten())
    with pytest.raises(ValueError, match="values"):
        plugin.end_rollout(torch.zeros(2, 2))


def test_plugin_episode_labels_reach_the_buffer_with_their_episode():
    plugin = ContrastivePlugin(GaussianGaze(1), (1, 1, 1), config=ContrastiveConfig(labels="success", buffer_size=0),
                               num_envs=2, max_episode_steps=5, gamma=0.9, steps_per_iteration=4)
    for t in range(3):
        plugin.observe(torch.zeros(2, 1, 1, 1), torch.zeros(2), torch.tensor([t == 2, t == 1]),
                       torch.tensor([t == 2, False]))
    assert len(plugin.buffer) == 5
    assert plugin.buffer.returns[:5].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert plugin.buffer.episodes[:5].tolist() == [1, 1, 0, 0, 0]
    plugin.update(1)
    assert len(plugin.buffer) == 0  # on-policy (buffer_size 0): cleared after each update


def test_shuffled_labels_keep_their_values_but_not_their_states():
    """The control: a rollout's labels are stored permuted among its states (the maps stay in place), the same way
    after a checkpoint, and never without ``shuffle_labels``."""
    def plugin(shuffle):
        return ContrastivePlugin(GaussianGaze(1), (1, 1, 1), num_envs=4, max_episode_steps=50, gamma=0.9,
                                 steps_per_iteration=64, rollout_steps=16, seed=3,
                                 config=ContrastiveConfig(labels="gae", buffer_size=256, shuffle_labels=shuffle))

    def rollout(p):
        for t in range(16):
            p.observe(torch.full((4, 1, 1, 1), float(t)), torch.zeros(4), torch.zeros(4, dtype=torch.bool),
                      torch.zeros(4, dtype=torch.bool))
        p.end_rollout(torch.arange(64.0).view(16, 4))  # label = the state's own index
        return p

    plain, shuffled = rollout(plugin(False)), rollout(plugin(True))
    order = torch.arange(64.0)
    assert torch.equal(plain.buffer.returns[:64], order)
    labels = shuffled.buffer.returns[:64]
    assert torch.equal(labels.sort().values, order) and (labels != order).float().mean() > 0.9
    assert torch.equal(shuffled.buffer.features[:64], plain.buffer.features[:64])
    resumed = plugin(True)
    resumed.load_state_dict(shuffled.state_dict())
    assert torch.equal(rollout(resumed).buffer.returns[:64], rollout(shuffled).buffer.returns[64:128])


def test_buffer_scoped_shuffle_breaks_the_tie_between_an_episode_and_its_labels():
    """SAC stores one episode at a time, so the batch-scoped control keeps each episode's labels (only their order
    changes); the buffer scope gives an episode the labels of states stored before it."""
    def episodes(scope):
        plugin = ContrastivePlugin(GaussianGaze(1), (1, 1, 1), num_envs=2, max_episode_steps=50, gamma=0.9,
                                   steps_per_iteration=2, seed=3,
                                   config=ContrastiveConfig(labels="reward", buffer_size=256, shuffle_labels=True,
                                                            shuffle_scope=scope))
        # env 0: a 20-step episode rewarded 1 each step; then env 1: a 30-step episode rewarded 0
        for t in range(30):
            done = torch.tensor([t == 19, t == 29])
            reward = torch.tensor([1.0 if t < 20 else 5.0, 0.0])
            plugin.observe(torch.full((2, 1, 1, 1), float(t)), reward, done, torch.zeros(2, dtype=torch.bool))
        return plugin.buffer

    batch, wide = episodes("batch"), episodes("buffer")
    assert len(batch) == len(wide) == 50
    assert batch.returns[:20].eq(1).all() and batch.returns[20:50].eq(0).all()  # each episode keeps its own labels
    assert wide.returns[:20].eq(1).all()  # the first batch: only permuted (nothing stored before it)
    assert wide.returns[20:50].eq(1).all()  # the second episode took the first one's labels, none of its own 0s
    with pytest.raises(GazelabError, match="contrastive.shuffle_scope='buffer' needs contrastive.shuffle_labels=True"):
        SACConfig(attention="gaze", contrastive=True,
                  contrastive_config=ContrastiveConfig(shuffle_scope="buffer")).resolve()
    with pytest.raises(GazelabError, match="shuffle_scope"):
        ContrastiveConfig(shuffle_labels=True, shuffle_scope="everything")


def test_a_stopped_step_trains_until_its_env_step_and_never_after():
    """``stop_at_env_step``: the updates up to that env step move the gaze; later ones store nothing, change nothing
    and log nothing (the gaze is left to RL)."""
    gaze = GaussianGaze(1)
    plugin = ContrastivePlugin(gaze, (1, 2, 2), num_envs=4, max_episode_steps=50, gamma=0.9, steps_per_iteration=64,
                               rollout_steps=16, seed=0,
                               config=ContrastiveConfig(labels="gae", buffer_size=1024, min_buffer=8, lr=0.05,
                                                        stop_at_env_step=128))

    def rollout():
        for t in range(16):  # the label: how bright the top-left cell is
            fmap = torch.rand(4, 1, 2, 2)
            plugin.observe(fmap, torch.zeros(4), torch.zeros(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool))
            yield fmap[:, 0, 0, 0]

    moved = []
    for i in (1, 2, 3, 4):
        bright = torch.stack(list(rollout()))  # (16, 4)
        before = [p.detach().clone() for p in gaze.parameters()]
        scalars = ppo_hook(plugin, advantages=bright, values=torch.zeros(16, 4), iteration=i)
        moved.append(any(not torch.equal(b, p) for b, p in zip(before, gaze.parameters())))
        assert bool(scalars) == (i <= 2)
    assert moved == [True, True, False, False]
    assert plugin.stopped and len(plugin.buffer) == 0
