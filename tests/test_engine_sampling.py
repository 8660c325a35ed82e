"""Seeds and samplers: the data stream depends on (seed, epoch, index) only; ranks split it evenly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssal.engine import ShardedSampler, item_rng
from ssal.engine.sampler import epoch_order, shard_indices
from ssal.engine.seeding import capture_rng_state, purpose_seed_sequence, restore_rng_state, seed_epoch


def test_item_streams_depend_on_seed_epoch_and_index_only():
    assert item_rng(0, 3, 7).random() == item_rng(0, 3, 7).random()
    draws = {item_rng(*key).random() for key in [(0, 3, 7), (1, 3, 7), (0, 4, 7), (0, 3, 8)]}
    assert len(draws) == 4


def test_purpose_streams_never_coincide_with_item_streams():
    sampler_stream = purpose_seed_sequence("sampler", 0, 3, 7).generate_state(4)
    assert not np.array_equal(sampler_stream, np.random.SeedSequence([0, 3, 7]).generate_state(4))
    assert not np.array_equal(sampler_stream, purpose_seed_sequence("loader", 0, 3, 7).generate_state(4))


def test_each_epoch_has_its_own_order_and_the_same_epoch_the_same_order():
    assert epoch_order(10, seed=1, epoch=0).tolist() == epoch_order(10, seed=1, epoch=0).tolist()
    assert epoch_order(10, seed=1, epoch=0).tolist() != epoch_order(10, seed=1, epoch=1).tolist()
    assert sorted(epoch_order(10, seed=1, epoch=5).tolist()) == list(range(10))
    assert epoch_order(4, seed=1, epoch=5, shuffle=False).tolist() == [0, 1, 2, 3]


def test_ranks_get_equal_shares_that_cover_the_dataset():
    samplers = [ShardedSampler(10, rank=r, world_size=4, seed=2) for r in range(4)]
    for sampler in samplers:
        sampler.set_epoch(3)
    shares = [list(sampler) for sampler in samplers]
    assert [len(share) for share in shares] == [3, 3, 3, 3] == [len(s) for s in samplers]
    everything = sum(shares, [])
    assert set(everything) == set(range(10)) and len(everything) == 12  # two indices padded in


def test_without_padding_every_index_appears_once():
    shares = [list(ShardedSampler(10, rank=r, world_size=4, shuffle=False, pad=False)) for r in range(4)]
    assert shares == [shard_indices(10, r, 4) for r in range(4)] == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]


def test_padding_works_when_there_are_more_ranks_than_items():
    shares = [list(ShardedSampler(2, rank=r, world_size=5, seed=0)) for r in range(5)]
    assert all(len(share) == 1 for share in shares) and set(sum(shares, [])) == {0, 1}


def test_epoch_seeding_and_rng_state_round_trip():
    seed_epoch(seed=5, epoch=2, rank=1)
    state = capture_rng_state()
    first = (torch.rand(3), np.random.rand(), __import__("random").random())
    seed_epoch(seed=5, epoch=2, rank=0)
    assert not torch.equal(torch.rand(3), first[0])  # ranks differ (their dropout masks must not coincide)
    restore_rng_state(state)
    again = (torch.rand(3), np.random.rand(), __import__("random").random())
    assert torch.equal(again[0], first[0]) and again[1:] == first[1:]


def test_an_empty_dataset_cannot_be_sampled():
    with pytest.raises(ValueError, match="empty"):
        ShardedSampler(0)
