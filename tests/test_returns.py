"""Returns (gazelab.method.returns): the discounted return-to-go and PPO's GAE on cases computed by hand."""

import torch

from gazelab.method.returns import discount_cumsum, gae


def test_discount_cumsum_by_hand():
    torch.testing.assert_close(discount_cumsum(torch.tensor([1.0, 2.0, 4.0]), 0.5), torch.tensor([3.0, 4.0, 4.0]))
    both = discount_cumsum(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), 0.9)  # two columns at once
    torch.testing.assert_close(both, torch.tensor([[1.0, 0.9], [0.0, 1.0]]))
    assert discount_cumsum(torch.zeros(0), 0.9).shape == (0,)


def test_discount_cumsum_stops_at_episode_ends():
    """Rewards 1, 2, 4, 8 with an episode ending after step 1: [1 + 0.5*2, 2] then [4 + 0.5*8, 8]."""
    rewards = torch.tensor([1.0, 2.0, 4.0, 8.0])
    dones = torch.tensor([False, True, False, False])
    torch.testing.assert_close(discount_cumsum(rewards, 0.5, dones), torch.tensor([2.0, 2.0, 8.0, 8.0]))


def test_gae_by_hand():
    """gamma = lambda = 0.5; T = 3 steps of 2 envs.

    Env 0 runs on past the rollout: V(after) = 4 bootstraps it.
      t=2: delta = 2 + 0.5 * 4 - 2 = 2                     A = 2
      t=1: delta = 0 + 0.5 * 2 - 1 = 0                     A = 0 + 0.25 * 2 = 0.5
      t=0: delta = 1 + 0.5 * 1 - 0.5 = 1                   A = 1 + 0.25 * 0.5 = 1.125
    Env 1's episode is truncated after step 0 (its final observation is worth 3) and terminates after step 2
    (final value 0, and the observation after the rollout begins a new episode):
      t=2: delta = 1 + 0.5 * 0 - 2 = -1                    A = -1
      t=1: delta = 1 + 0.5 * 2 - 2 = 0                     A = 0 + 0.25 * (-1) = -0.25
      t=0: delta = 1 + 0.5 * 3 - 2 = 0.5 (no carry-over)   A = 0.5
    """
    rewards = torch.tensor([[1.0, 1.0], [0.0, 1.0], [2.0, 1.0]])
    values = torch.tensor([[0.5, 2.0], [1.0, 2.0], [2.0, 2.0]])
    dones = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    final_values = torch.tensor([[0.0, 3.0], [0.0, 0.0], [0.0, 0.0]])
    advantages = gae(rewards, values, dones, final_values, next_value=torch.tensor([4.0, 0.0]),
                     next_done=torch.tensor([0.0, 1.0]), gamma=0.5, gae_lambda=0.5)
    torch.testing.assert_close(advantages, torch.tensor([[1.125, 0.5], [0.5, -0.25], [2.0, -1.0]]))


def test_gae_with_lambda_one_is_the_return_to_go_minus_the_values():
    """lambda = 1, no episode end and no bootstrap: A_t = G_t - V(s_t) (Monte Carlo advantage)."""
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.rand(6, 3, generator=g), torch.rand(6, 3, generator=g)
    zeros = torch.zeros(6, 3)
    advantages = gae(rewards, values, zeros, zeros, next_value=torch.zeros(3), next_done=torch.zeros(3), gamma=0.9,
                     gae_lambda=1.0)
    torch.testing.assert_close(advantages, discount_cumsum(rewards, 0.9) - values)
