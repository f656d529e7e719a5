"""Benchmarks of reverie: run ``python -m bench`` (or ``make bench``); see bench/README.md."""

from __future__ import annotations
