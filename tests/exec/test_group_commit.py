"""``GroupCommit``: callers arriving together share one run of its function (one transaction).

Run with a real thread (``asyncio.to_thread``, the default runner), as the ledger does.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from reverie.exec.group_commit import GroupCommit


class Recorder:
    """A batch function that records the batches it ran (in a thread)."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.hold = hold

    def __call__(self, items: list[int]) -> list[int]:
        if self.hold is not None:
            self.hold.wait(5)
        self.batches.append(list(items))
        return [i * 10 for i in items]


def test_callers_started_together_share_one_batch() -> None:
    """Forty callers started in one step: one batch of forty.

    Before, only the first caller yielded; the second found no batch running and ran one
    with the two of them, so the other 38 waited for that transaction.
    """
    fn = Recorder()

    async def main() -> list[int]:
        commit: GroupCommit[int, int] = GroupCommit(fn)
        return await asyncio.gather(*(commit.run(i) for i in range(40)))

    assert asyncio.run(main()) == [i * 10 for i in range(40)]
    assert [len(b) for b in fn.batches] == [40]


def test_callers_arriving_while_a_batch_runs_share_the_next() -> None:
    hold = threading.Event()
    fn = Recorder(hold)

    async def main() -> list[int]:
        commit: GroupCommit[int, int] = GroupCommit(fn)
        first = asyncio.ensure_future(commit.run(0))
        while not commit._lock.locked():  # the first batch is running (held in its thread)
            await asyncio.sleep(0.001)
        later = [asyncio.ensure_future(commit.run(i)) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        hold.set()
        return await asyncio.gather(first, *later)

    assert asyncio.run(main()) == [0, 10, 20, 30, 40, 50]
    assert fn.batches == [[0], [1, 2, 3, 4, 5]]


def test_an_error_reaches_every_caller_of_its_batch() -> None:
    def failing(items: list[int]) -> list[int]:
        raise OSError('disk full')

    async def main() -> list[object]:
        commit: GroupCommit[int, int] = GroupCommit(failing)
        return await asyncio.gather(*(commit.run(i) for i in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, OSError) for r in results), results


def test_a_caller_cancelled_while_gathering_leaves_the_others_answered() -> None:
    fn = Recorder()

    async def main() -> tuple[list[int], bool]:
        commit: GroupCommit[int, int] = GroupCommit(fn)
        tasks = [asyncio.ensure_future(commit.run(i)) for i in range(4)]
        await asyncio.sleep(0)  # every caller is waiting for its batch
        tasks[0].cancel()
        done = await asyncio.gather(*tasks[1:])
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
        return done, tasks[0].cancelled()

    done, cancelled = asyncio.run(main())
    assert done == [10, 20, 30] and cancelled
