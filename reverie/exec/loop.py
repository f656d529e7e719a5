"""One event loop per process, in a daemon thread.

The sync API then works anywhere: in scripts, and in notebooks that already run a loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar('T')

IO_THREADS = 32
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's background event loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            # Media writes, image encoding and database batches run in threads; the default
            # executor (cores + 4) would queue them behind each other under API concurrency.
            loop.set_default_executor(
                concurrent.futures.ThreadPoolExecutor(IO_THREADS, thread_name_prefix='reverie-io')
            )
            thread = threading.Thread(
                target=_run_forever, args=(loop,), name='reverie-loop', daemon=True
            )
            thread.start()
            _loop = loop
        return _loop


def threads(name: str, workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """The process's pool of ``workers`` threads named ``name``, made on first use.

    Made once, not per call (starting a thread costs about 0.6 ms here); a forked child,
    which has none of its parent's threads, makes its own.
    """
    key = (name, os.getpid())
    with _lock:
        pool = _threads.get(key)
        if pool is None:
            pool = _threads[key] = concurrent.futures.ThreadPoolExecutor(workers, name)
        return pool


_threads: dict[tuple[str, int], concurrent.futures.ThreadPoolExecutor] = {}


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` until it is stopped, surviving a KeyboardInterrupt raised inside a task.

    asyncio re-raises KeyboardInterrupt and SystemExit out of ``run_forever`` after handing
    them to the task's awaiters; a UDF that raises one would otherwise stop the loop, and
    every later call in the process would wait for it forever.
    """
    while True:
        try:
            loop.run_forever()
        except (KeyboardInterrupt, SystemExit):
            continue
        return


def run_sync(coro: Coroutine[Any, Any, T], on_interrupt: Callable[[], bool] | None = None) -> T:
    """Run ``coro`` on the background loop and wait for it.

    On Ctrl-C the coroutine is cancelled and awaited (so it can commit what finished)
    before ``KeyboardInterrupt`` propagates. With ``on_interrupt`` (paid-call layer), a
    first Ctrl-C calls it instead; when it returns True (it asked the work to stop
    gently) the wait goes on, the result is dropped and ``KeyboardInterrupt`` propagates
    once the work has stopped; a second Ctrl-C cancels at once.
    """
    loop = background_loop()
    finished = threading.Event()

    async def run() -> T:
        try:
            return await coro
        finally:
            finished.set()

    future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(run(), loop)
    try:
        try:
            return future.result()
        except KeyboardInterrupt:
            if on_interrupt is None or not on_interrupt():
                raise
        future.result()  # stopping gently; a second Ctrl-C lands in the handler below
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        if future.done():
            raise
        # Cancelling the concurrent future only schedules the task's cancellation and returns
        # at once; wait for the coroutine itself to unwind (and commit what finished).
        future.cancel()
        finished.wait(timeout=60)
        raise
