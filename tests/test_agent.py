"""The networks: baseline-exact with attention='none', shapes, and where RL gradients go."""

import pytest
import torch

from gazelab.core.errors import GazelabError
from gazelab.rl.ppo import PPOConfig
from gazelab.rl.networks import ImageBranch, PPOAgent, SACActor, SoftQNetwork


def _obs(batch=5, size=64, state_dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"rgb": torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=g),
            "state": torch.randn(batch, state_dim, generator=g)}


@pytest.mark.parametrize("attention", ["none", "patch", "gaze"])
@pytest.mark.parametrize("encoder", ["nature", "fine"])
def test_ppo_agent_shapes(attention, encoder):
    agent = PPOAgent(64, 4, 2, encoder=encoder, attention=attention)
    action, logprob, entropy, value, enc = agent.get_action_and_value(_obs())
    assert action.shape == (5, 2) and logprob.shape == (5,) and entropy.shape == (5,) and value.shape == (5, 1)
    c, h, w = agent.image.feature_shape
    assert enc.fmap.shape == (5, c, h, w) and enc.attention.weights.shape == (5, h, w)
    assert (enc.attention.mu is not None) == (attention == "gaze")
    mean, att = agent.act(_obs())
    assert mean.shape == (5, 2) and att.weights.shape == (5, h, w)


def test_no_attention_is_the_baseline_projection():
    """attention='none': features = ReLU(Linear(flatten(CNN map))) exactly, as ManiSkill's NatureCNN."""
    enc = ImageBranch(64, encoder="nature", attention="none")
    rgb = _obs()["rgb"]
    fmap = enc.cnn(rgb)
    expected = torch.relu(enc.projection[0](fmap.flatten(1)))
    assert torch.equal(enc(rgb).features, expected)


def test_ppo_agent_matches_ppo_rgb_heads():
    agent = PPOAgent(64, 4, 3, encoder="nature", include_state=True)
    assert agent.state.in_features == 4 and agent.state.out_features == 256  # ppo_rgb state branch
    assert agent.critic[0].in_features == 512 and agent.critic[0].out_features == 512
    assert agent.actor_mean[-1].out_features == 3
    assert torch.allclose(agent.actor_logstd, torch.full((1, 3), -0.5))
    no_state = PPOAgent(64, 4, 3, encoder="nature", include_state=False)
    assert no_state.state is None and no_state.critic[0].in_features == 256


@pytest.mark.parametrize("gaze_rl_grad", [True, False])
def test_gaze_rl_grad_switch(gaze_rl_grad):
    """RL losses reach the gaze head only with gaze_rl_grad=True; the CNN learns either way."""
    agent = PPOAgent(64, 4, 2, attention="gaze", gaze_rl_grad=gaze_rl_grad)
    _, logprob, _, value, _ = agent.get_action_and_value(_obs(), torch.zeros(5, 2))
    (logprob.sum() + value.sum()).backward()
    gaze_grads = [p.grad for p in agent.image.attention.parameters()]
    if gaze_rl_grad:
        assert any(g is not None and g.abs().sum() > 0 for g in gaze_grads)
    else:
        assert all(g is None for g in gaze_grads)
    assert agent.image.cnn.net[0].weight.grad.abs().sum() > 0


def test_gaze_rl_grad_scales_the_heads_gradient():
    """gaze_rl_grad=0.25: the same forward pass, a quarter of the RL gradient into the gaze head; the CNN learns."""
    torch.manual_seed(0)
    full = PPOAgent(64, 4, 2, attention="gaze", head="keypoint")
    scaled = PPOAgent(64, 4, 2, attention="gaze", head="keypoint", gaze_rl_grad=0.25)
    scaled.load_state_dict(full.state_dict())
    for agent in (full, scaled):
        _, logprob, _, value, _ = agent.get_action_and_value(_obs(), torch.zeros(5, 2))
        (logprob.sum() + value.sum()).backward()
    for a, b in zip(full.image.attention.parameters(), scaled.image.attention.parameters()):
        torch.testing.assert_close(b.grad, 0.25 * a.grad)
    assert scaled.image.cnn.net[0].weight.grad.abs().sum() > 0


def test_gaze_rl_grad_false_keeps_the_forward_pass():
    torch.manual_seed(0)
    a = PPOAgent(64, 4, 2, attention="gaze", gaze_rl_grad=True)
    b = PPOAgent(64, 4, 2, attention="gaze", gaze_rl_grad=False)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.get_value(_obs()), b.get_value(_obs()))


def test_sac_networks_shapes_and_bounds():
    actor = SACActor(64, 4, 2, [-1, -1], [1, 1], encoder="nature", attention="gaze")
    action, log_prob, mean, feature, image = actor.get_action(_obs())
    assert action.shape == (5, 2) and log_prob.shape == (5, 1) and feature.shape == (5, 256)
    assert action.abs().max() <= 1 and mean.abs().max() <= 1
    assert image.attention.mu.shape == (5, 2)
    q = SoftQNetwork(256, 4, 2)
    assert q(feature, _obs()["state"], action).shape == (5, 1)
    # given features, the actor does not run the encoder again
    assert actor.get_action(_obs(), visual_feature=feature.detach())[4] is None


def test_oracle_fovea_is_centred_on_the_prize_in_map_coordinates():
    """attention='oracle': mu = the env's prize converted image -> map, fixed sigma, and the heaviest cell of the
    map is the cell whose receptive field is centred nearest the prize."""
    enc = ImageBranch(64, encoder="fine", attention="oracle", sigma=0.25)
    cells = enc.cnn.cell_centres()  # (100, 2) image coordinates
    prize = torch.stack([cells[23], cells[77], torch.tensor([0.11, -0.3])])
    out = enc(_obs(3)["rgb"], prize)
    torch.testing.assert_close(enc.cnn.map_to_image(out.attention.mu), prize)
    torch.testing.assert_close(out.attention.sigma, torch.full((3, 2), 0.25) / enc.cnn.map_geometry()[0].float())
    heaviest = out.attention.weights.flatten(1).argmax(1)
    nearest = torch.cdist(prize, cells).argmin(1)
    assert heaviest.tolist() == nearest.tolist() and heaviest[:2].tolist() == [23, 77]
    with pytest.raises(ValueError, match="prize"):
        enc(_obs(3)["rgb"])  # no privileged position: one clear error


def test_the_two_fovea_oracle_looks_at_both_parts_and_reads_them_from_the_observation():
    """oracle_foveae=2: one fovea on each of the env's prize_parts, the larger weight per cell (both peaks at full
    height), mu the first part's; ``see`` hands it prize_parts, the one-fovea oracle prize."""
    two = ImageBranch(64, encoder="fine", attention="oracle", sigma=0.25, foveae=2)
    cells = two.cnn.cell_centres()
    parts = torch.stack([torch.stack([cells[23], cells[77]]), torch.stack([cells[5], cells[94]])])  # (2, 2, 2)
    obs = {**_obs(2), "prize": parts[:, 0], "prize_parts": parts}
    out = two.see(obs)
    weights = out.attention.weights.flatten(1)
    torch.testing.assert_close(weights[0, [23, 77]], torch.ones(2))
    torch.testing.assert_close(weights[1, [5, 94]], torch.ones(2))
    torch.testing.assert_close(two.cnn.map_to_image(out.attention.mu), parts[:, 0])
    one = ImageBranch(64, encoder="fine", attention="oracle", sigma=0.25)
    torch.testing.assert_close(one.see(obs).attention.weights.flatten(1)[0, 23], torch.tensor(1.0))
    assert one.see(obs).attention.weights.flatten(1)[0, 77] < 0.01  # the single fovea ignores the second part
    with pytest.raises(ValueError, match="prize_parts"):
        two(obs["rgb"], obs["prize"])  # a (B, 2) target for two foveae: one clear error


def test_the_two_fovea_oracle_has_its_own_name_and_needs_the_oracle():

    assert PPOConfig(attention="oracle", oracle_foveae=2).method_name() == "oracle-2foveae"
    assert PPOConfig(attention="oracle").method_name() == "oracle"
    with pytest.raises(GazelabError, match="oracle_foveae=2 needs attention='oracle', got attention='gaze'"):
        PPOConfig(attention="gaze", oracle_foveae=2).validate()


def test_a_learned_gaze_of_two_foveae_has_its_own_name_and_clear_limits():
    config = PPOConfig(attention="gaze", gaze_foveae=2)
    assert config.method_name() == "gaze-2foveae" and config.attention_options()["foveae"] == 2
    branch = ImageBranch(64, encoder="fine", attention="gaze", **config.attention_options())
    assert branch(_obs(3)["rgb"]).attention.foveae[0].shape == (3, 2, 2)
    for bad, message in ((dict(attention="none"), "gaze_foveae=2 sets the learned gaze's foveae, and attention='none'"),
                         (dict(attention="gaze", gaze_centre_input=True), "gaze_centre_input=True feeds one fovea"),
                         (dict(attention="gaze", gaze_teacher=0.01), "gaze_teacher=0.01 pulls one fovea")):
        with pytest.raises(GazelabError, match=message):
            PPOConfig(gaze_foveae=2, **bad).resolve()
    with pytest.raises(GazelabError, match="gaze_foveae"):
        PPOConfig(attention="gaze", gaze_foveae=0)


def test_the_centre_input_hands_the_heads_the_foveas_centre():
    """gaze_centre_input: the last two image features are the fovea's mu and the heads read them; gaze_rl_grad=0 hands
    them over detached; the oracle's centre is the prize; attention without a centre is refused."""
    torch.manual_seed(0)
    agent = PPOAgent(64, 4, 2, attention="gaze", head="keypoint", centre_input=True)
    assert agent.image.out_features == 258 and agent.critic[0].in_features == 258 + 256
    latent, image = agent.get_features(_obs())
    torch.testing.assert_close(image.features[:, -2:], image.attention.mu)
    # the heads read mu: moving the fovea's centre alone changes the value
    critic_on = lambda mu: agent.critic(torch.cat([image.features[:, :-2], mu, latent[:, 258:]], 1))  # noqa: E731
    assert not torch.allclose(critic_on(image.attention.mu), critic_on(image.attention.mu + 0.5))
    # with gaze_rl_grad=0 the centre is handed over detached: no RL gradient reaches the head through it either
    rlfree = PPOAgent(64, 4, 2, attention="gaze", head="keypoint", centre_input=True, gaze_rl_grad=0)
    rlfree.get_value(_obs()).sum().backward()
    assert all(p.grad is None for p in rlfree.image.attention.parameters())
    oracle = ImageBranch(64, attention="oracle", centre_input=True)
    prize = torch.tensor([[0.3, -0.2]]).repeat(5, 1)
    torch.testing.assert_close(oracle(_obs()["rgb"], prize).features[:, -2:], oracle.cnn.image_to_map(prize))
    with pytest.raises(GazelabError, match="centre_input=True needs a fovea.*'none'"):
        ImageBranch(64, attention="none", centre_input=True)
    with pytest.raises(GazelabError, match="gaze_centre_input=True needs a fovea.*'patch'"):
        PPOConfig(attention="patch", gaze_centre_input=True).validate()
    assert PPOConfig(attention="gaze", gaze_centre_input=True, contrastive=True).method_name() == "gaze-centre+contrastive"


def test_the_keypoint_scale_reaches_the_gaze_and_only_the_keypoint_head_takes_one():
    config = PPOConfig(attention="gaze", gaze_keypoint_scale=40.0)
    assert PPOAgent(64, 4, 2, attention="gaze", **config.attention_options()).image.attention.keypoint_scale == 40.0
    with pytest.raises(GazelabError, match="gaze_keypoint_scale=40 .*gaze_head='mlp'"):
        PPOConfig(attention="gaze", gaze_head="mlp", gaze_keypoint_scale=40.0).validate()
