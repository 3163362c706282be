"""ContrastiveBuffer: circular storage, keys computed once, dtype option, input checks."""

import pytest
import torch

from gazelab.method.buffer import ContrastiveBuffer

SHAPE = (4, 3, 3)


def maps(values):
    """One constant feature map per value (B, 4, 3, 3), so stored rows can be identified by their value."""
    values = torch.as_tensor(values, dtype=torch.float32)
    return values[:, None, None, None].expand(-1, *SHAPE).clone()


def test_add_and_len_before_full():
    buffer = ContrastiveBuffer(SHAPE, capacity=10, dtype=torch.float32)
    assert len(buffer) == 0 and buffer.capacity == 10
    buffer.add(maps([1, 2, 3]), torch.tensor([10.0, 20.0, 30.0]))
    assert len(buffer) == 3
    features, returns, keys = buffer.filled()
    assert features.shape == (3, *SHAPE) and returns.shape == (3,) and keys.shape == (3, 64)
    assert features[:, 0, 0, 0].tolist() == [1, 2, 3] and returns.tolist() == [10, 20, 30]


def test_wrap_around_keeps_exactly_the_newest_capacity_entries():
    buffer = ContrastiveBuffer(SHAPE, capacity=7, dtype=torch.float32)
    for start in range(0, 20, 3):  # 20 entries added in batches of 3 (the last of 2)
        values = torch.arange(start, min(start + 3, 20), dtype=torch.float32)
        buffer.add(maps(values), -values)
    assert len(buffer) == 7
    features, returns, _ = buffer.filled()
    assert sorted(features[:, 0, 0, 0].tolist()) == list(range(13, 20))
    # every row keeps its own return and its own map
    assert torch.equal(returns, -features[:, 0, 0, 0])
    assert torch.equal(features, features[:, :1, :1, :1].expand(-1, *SHAPE))


def test_a_batch_larger_than_capacity_keeps_its_last_entries():
    buffer = ContrastiveBuffer(SHAPE, capacity=4, dtype=torch.float32)
    buffer.add(maps([100]), torch.tensor([0.0]))
    buffer.add(maps(range(10)), torch.arange(10.0))
    assert len(buffer) == 4
    assert sorted(buffer.filled()[1].tolist()) == [6, 7, 8, 9]


def test_keys_are_unit_length_computed_once_and_stable():
    torch.manual_seed(0)
    buffer = ContrastiveBuffer(SHAPE, capacity=8)
    first = torch.rand(3, *SHAPE)
    buffer.add(first, torch.zeros(3))
    keys_before = buffer.keys[:3].clone()
    torch.testing.assert_close(keys_before.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(keys_before, buffer.make_keys(first))
    buffer.add(torch.rand(4, *SHAPE), torch.zeros(4))
    assert torch.equal(buffer.keys[:3], keys_before)  # older keys untouched by later adds
    # the projection is fixed by the seed: same seed -> same keys, other seed -> other keys
    same = ContrastiveBuffer(SHAPE, capacity=8)
    other = ContrastiveBuffer(SHAPE, capacity=8, seed=1)
    torch.testing.assert_close(same.make_keys(first), keys_before)
    assert not torch.allclose(other.make_keys(first), keys_before)


def test_keys_preserve_neighbourhoods():
    torch.manual_seed(0)
    base = torch.rand(50, 16, 6, 6)
    near = base + 0.05 * torch.randn_like(base)
    buffer = ContrastiveBuffer((16, 6, 6), capacity=100)
    buffer.add(torch.cat([base, near]), torch.zeros(100))
    keys = buffer.filled()[2]
    distances = torch.cdist(keys[:50], keys)
    distances[torch.arange(50), torch.arange(50)] = float("inf")
    assert torch.equal(distances.argmin(1), torch.arange(50, 100))  # each map's nearest key is its perturbed copy


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_storage_dtype(dtype):
    buffer = ContrastiveBuffer(SHAPE, capacity=5, dtype=dtype)
    values = torch.rand(2, *SHAPE, dtype=torch.float64)
    buffer.add(values, torch.ones(2, dtype=torch.float64))
    assert buffer.features.dtype == dtype and buffer.returns.dtype == torch.float32 and buffer.keys.dtype == torch.float32
    torch.testing.assert_close(buffer.filled()[0].double(), values, atol=1e-3, rtol=1e-3)


def test_add_detaches():
    features = torch.rand(2, *SHAPE, requires_grad=True)
    buffer = ContrastiveBuffer(SHAPE, capacity=5)
    buffer.add(features * 2, torch.zeros(2))
    assert not buffer.features.requires_grad and not buffer.keys.requires_grad


def test_state_dict_round_trip_continues_the_ring():
    buffer = ContrastiveBuffer(SHAPE, capacity=5, dtype=torch.float32)
    buffer.add(maps(range(7)), torch.arange(7.0))  # wrapped: write position in the middle
    restored = ContrastiveBuffer(SHAPE, capacity=5, dtype=torch.float32)
    restored.load_state_dict(buffer.state_dict())
    for b in (buffer, restored):
        b.add(maps([70, 71]), torch.tensor([70.0, 71.0]))
    assert len(restored) == 5
    for a, b in zip(buffer.filled(), restored.filled()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="state"):
        ContrastiveBuffer((4, 3, 2), capacity=5).load_state_dict(buffer.state_dict())


def test_clear():
    buffer = ContrastiveBuffer(SHAPE, capacity=5)
    buffer.add(torch.rand(4, *SHAPE), torch.zeros(4))
    buffer.clear()
    assert len(buffer) == 0
    buffer.add(maps([7]), torch.tensor([1.0]))
    assert len(buffer) == 1 and buffer.filled()[0][0, 0, 0, 0] == 7


@pytest.mark.parametrize(
    "features, returns, name",
    [
        (torch.rand(2, 4, 3), torch.zeros(2), "features"),
        (torch.rand(2, 4, 3, 2), torch.zeros(2), "features"),
        (torch.rand(2, *SHAPE), torch.zeros(3), "returns"),
        (torch.rand(2, *SHAPE), torch.zeros(2, 1), "returns"),
        (torch.full((2, *SHAPE), float("nan")), torch.zeros(2), "features"),
        (torch.rand(2, *SHAPE), torch.tensor([0.0, float("nan")]), "returns"),
        (torch.rand(2, *SHAPE), torch.tensor([0.0, float("inf")]), "returns"),
    ],
)
def test_add_rejects_bad_input_and_stores_nothing(features, returns, name):
    buffer = ContrastiveBuffer(SHAPE, capacity=5)
    with pytest.raises(ValueError, match=name):
        buffer.add(features, returns)
    assert len(buffer) == 0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(feature_shape=(4, 3)), "feature_shape"),
        (dict(feature_shape=(4, 0, 3)), "feature_shape"),
        (dict(capacity=0), "capacity"),
        (dict(dtype=torch.int8), "dtype"),
        (dict(key_dim=0), "key_dim"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, name):
    args = dict(feature_shape=SHAPE)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        ContrastiveBuffer(**args)
