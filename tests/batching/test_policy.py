"""The pure close-a-batch decision."""

from __future__ import annotations

from tensorgate.batching.policy import BatchPolicy, Dispatch, Wait, entry_sizes, plan_batch

POLICY = BatchPolicy(max_batch_size=8, max_queue_delay_s=0.010, max_queue_rows=64)


def test_waits_until_first_arrival_plus_delay() -> None:
    assert plan_batch(POLICY, [1, 1], 2, first_arrival=5.0, now=5.004) == Wait(5.010)


def test_closes_when_the_delay_has_passed() -> None:
    assert plan_batch(POLICY, [1, 1, 1], 3, first_arrival=5.0, now=5.010) == Dispatch(3)


def test_closes_at_once_when_full() -> None:
    assert plan_batch(POLICY, [1] * 8, 8, first_arrival=5.0, now=5.0) == Dispatch(8)
    assert plan_batch(POLICY, [1] * 11, 11, first_arrival=5.0, now=5.0) == Dispatch(8)


def test_counts_rows_not_requests() -> None:
    # 3 + 4 rows fit; the next 2 would make 9 > 8: the batch is full at 7 rows.
    assert plan_batch(POLICY, [3, 4, 2], 3, first_arrival=5.0, now=5.0) == Dispatch(2)


def test_incompatible_shapes_close_the_batch() -> None:
    assert plan_batch(POLICY, [1, 1, 1], 2, first_arrival=5.0, now=5.0) == Dispatch(2)


def test_preferred_size_closes_early_with_the_largest_reached() -> None:
    policy = BatchPolicy(8, 0.010, preferred_batch_sizes=(2, 4), max_queue_rows=64)
    assert plan_batch(policy, [1], 1, first_arrival=5.0, now=5.0) == Wait(5.010)
    assert plan_batch(policy, [1, 1, 1], 3, first_arrival=5.0, now=5.0) == Dispatch(2)
    assert plan_batch(policy, [1] * 5, 5, first_arrival=5.0, now=5.0) == Dispatch(4)


def test_zero_delay_dispatches_whatever_is_queued() -> None:
    policy = BatchPolicy(8, 0.0, max_queue_rows=64)
    assert plan_batch(policy, [1], 1, first_arrival=5.0, now=5.0) == Dispatch(1)
    assert plan_batch(policy, [2, 3], 2, first_arrival=5.0, now=5.0) == Dispatch(2)


def test_idle_instances_share_a_batch_closed_by_the_delay() -> None:
    policy = BatchPolicy(8, 0.0, max_queue_rows=64)
    assert plan_batch(policy, [1] * 6, 6, 5.0, 5.0, idle_instances=2) == Dispatch(3)
    assert plan_batch(policy, [1] * 5, 5, 5.0, 5.0, idle_instances=2) == Dispatch(3)
    assert plan_batch(policy, [1], 1, 5.0, 5.0, idle_instances=2) == Dispatch(1)
    # A full batch is not split: each instance takes max_batch_size in turn.
    assert plan_batch(policy, [1] * 20, 20, 5.0, 5.0, idle_instances=2) == Dispatch(8)


def test_a_full_batch_is_spread_over_idle_instances_when_asked() -> None:
    policy = BatchPolicy(8, max_queue_delay_s=0.0)
    eight = [1] * 8
    assert plan_batch(policy, eight, 8, 0.0, 0.0, idle_instances=2) == Dispatch(8)
    assert plan_batch(policy, eight, 8, 0.0, 0.0, idle_instances=2, spread=True) == Dispatch(4)
    assert plan_batch(policy, eight, 8, 0.0, 0.0, idle_instances=3, spread=True) == Dispatch(3)
    # More queued than the idle instances can take: each still takes a full batch.
    assert plan_batch(policy, [1] * 20, 20, 0.0, 0.0, idle_instances=2, spread=True) == Dispatch(8)
    assert plan_batch(policy, eight, 8, 0.0, 0.0, idle_instances=1, spread=True) == Dispatch(8)


def test_a_request_of_many_rows_takes_an_entry_per_instance_none_over_the_batch() -> None:
    assert entry_sizes(1, 2, 64) == [1]
    assert entry_sizes(8, 2, 64) == [4, 4]  # a lone request still runs on both instances
    assert entry_sizes(3, 2, 64) == [2, 1]
    assert entry_sizes(8, 1, 64) == [8]
    assert entry_sizes(200, 2, 64) == [50, 50, 50, 50]  # none over max_batch_size
    assert entry_sizes(5, 1, 2) == [2, 2, 1]
    assert entry_sizes(0, 2, 64) == []
    for rows in range(1, 300, 7):
        for instances in (1, 2, 3, 8):
            sizes = entry_sizes(rows, instances, 16)
            assert sum(sizes) == rows
            assert max(sizes) <= 16
            assert max(sizes) - min(sizes) <= 1
            assert len(sizes) == max(min(rows, instances), -(-rows // 16))
