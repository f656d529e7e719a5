"""UDFs the reliability tests' child processes share (found again by dotted path)."""

from __future__ import annotations

import asyncio
import os

import reverie as rv


@rv.udf
def twice(x: int) -> int:
    """A cheap sync UDF: 2 * x."""
    return 2 * x


@rv.udf(resource_pool='workers', max_concurrency=4)
async def logged_upper(s: str) -> str:
    """An async UDF that logs each call (pid and input) to ``$CALL_LOG``; stalls with $STALL."""
    if os.environ.get('STALL'):
        await asyncio.sleep(600)
    await asyncio.sleep(0.02)
    with open(os.environ['CALL_LOG'], 'a') as f:
        f.write(f'{os.getpid()} {s}\n')
    return s.upper()
