"""UDFs the reliability tests' child processes share (found again by dotted path)."""

from __future__ import annotations

import reverie as rv


@rv.udf
def twice(x: int) -> int:
    """A cheap sync UDF: 2 * x."""
    return 2 * x
