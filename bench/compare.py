"""``python -m bench.compare --base REV``: today's figures against another commit's, same run.

Each piece runs in a fresh process in both trees (the commit's own package and bench code
in a temporary git worktree, this checkout's in place), interleaved round by round so that
load on a noisy machine falls on both alike. The table gives the median of each figure the
two share, the ratio (this tree / base, oriented so that above 1.00 is better) and flags a
figure more than ``--tolerance`` worse.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.piece import read_result

HERE = Path(__file__).resolve().parents[1]
DEFAULT_PIECES = (
    'tables,udf,async_udf,pool,bcd,seed_insert_again,seed_add_again,scale_100000,versions_100000'
)


def flatten(prefix: str, value: Any) -> dict[str, float]:
    """Every number in a piece's result, keyed by its dotted path."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix: float(value)}
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for key, sub in value.items():
            out.update(flatten(f'{prefix}.{key}' if prefix else str(key), sub))
        return out
    return {}


def direction(key: str) -> int:
    """+1 where higher is better, -1 where lower is better, 0 for counts and settings."""
    last = key.rsplit('.', 1)[-1]
    if last.endswith(('per_s', 'rows_s', '_per_sec', 'ratio')):
        return 1
    if last.endswith(('_s', '_ms', '_mib')):
        return -1
    return 0


def run_piece(tree: Path, name: str) -> dict[str, float]:
    """One piece in a fresh interpreter whose ``reverie`` and ``bench`` come from ``tree``."""
    env = {**os.environ, 'REVERIE_PROGRESS': '0', 'PYTHONPATH': str(tree)}
    proc = subprocess.run(
        [sys.executable, '-m', 'bench.piece', name],
        cwd=tree,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    result = read_result(proc.stdout)
    if result is not None:
        return flatten('', result)
    sys.stderr.write(proc.stdout[-1000:] + proc.stderr[-2000:])
    raise SystemExit(f'piece {name!r} failed in {tree} (exit {proc.returncode})')


def compare(base: str, pieces: list[str], rounds: int, tolerance: float) -> int:
    """Run, print the table; the number of figures worse than ``tolerance``."""
    worse = 0
    with tempfile.TemporaryDirectory(prefix='bench-base-') as tmp:
        old = Path(tmp) / 'tree'
        subprocess.run(
            ['git', 'worktree', 'add', '--detach', '-q', str(old), base], cwd=HERE, check=True
        )
        try:
            runs: dict[tuple[str, str], list[dict[str, float]]] = {}
            for r in range(rounds):
                for name in pieces:
                    for label, tree in (('base', old), ('head', HERE)):
                        print(f'round {r + 1}/{rounds}: {name} ({label})', file=sys.stderr)
                        runs.setdefault((name, label), []).append(run_piece(tree, name))
        finally:
            subprocess.run(['git', 'worktree', 'remove', '--force', str(old)], cwd=HERE)
    print(f'| piece | figure | base ({base[:10]}) | head | better-is-up ratio | |')
    print('|---|---|---|---|---|---|')
    for name in pieces:
        shared = set.intersection(*(set(d) for d in runs[(name, 'base')] + runs[(name, 'head')]))
        for key in sorted(k for k in shared if direction(k)):
            b = statistics.median(d[key] for d in runs[(name, 'base')])
            h = statistics.median(d[key] for d in runs[(name, 'head')])
            if b <= 0 or h <= 0:
                continue
            ratio = h / b if direction(key) > 0 else b / h
            flag = 'WORSE' if ratio < 1 - tolerance else ''
            worse += bool(flag)
            print(f'| {name} | {key} | {b:.4g} | {h:.4g} | {ratio:.2f} | {flag} |')
    return worse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.compare', description=__doc__)
    parser.add_argument('--base', required=True, help='the commit to compare against')
    parser.add_argument('--pieces', default=DEFAULT_PIECES, help='comma-separated piece names')
    parser.add_argument('--rounds', type=int, default=3, help='runs of each piece per tree')
    parser.add_argument('--tolerance', type=float, default=0.05, help='worse by more: flagged')
    args = parser.parse_args(argv)
    worse = compare(args.base, args.pieces.split(','), args.rounds, args.tolerance)
    print(f'\n{worse} figure(s) worse by more than {args.tolerance:.0%}')


if __name__ == '__main__':
    main()
