"""Measure kill -9 under CPU load: what is re-paid, and where each answer's lag goes.

    python -m tests.reliability.kill_lag --busy 1 --megapixels 1 --runs 3

Each run is ``test_kill_under_load``'s scenario (a random kill 2-5 s into the backfill,
then ``reverie resume``) with the child traced (``_trace``): per run it prints the oldest
answer paid again and how many were >= 0.5 s old, and the lag from the server's ``t_end``
(its request log) to each step of the answer: the stand-in starts sending and has written
it (its own thread, timed here), and in the child headers in, body received, decoded, noted
(media file and spill note written). ``KILL_PROFILE=1`` adds a sampled profile of the
child's event-loop thread. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

from reverie.reve_server import app
from reverie.reve_server.backend import DeterministicBackend
from tests.reliability.test_round2_kill import _kill_and_resume

STAGES = ('sending', 'sent', 'headers', 'received', 'decoded', 'noted')
_SERVER: dict[str, dict[str, float]] = collections.defaultdict(dict)
_server_send = app._Handler._send


def _timed_send(self: app._Handler, answer: Any) -> None:
    """The stand-in's own send, timed: ``sending`` (it starts), ``sent`` (body written)."""
    rid = answer.headers.get('X-Reve-Request-Id')
    _SERVER[rid]['sending'] = time.time()
    try:
        _server_send(self, answer)
    finally:
        _SERVER[rid]['sent'] = time.time()


app._Handler._send = _timed_send  # type: ignore[method-assign]


class NoisyBackend(DeterministicBackend):
    """Drawn images with noise added: PNGs of a photo's size (1 MP: about 2.3 MB, 3.1 MB as
    base64 JSON; the drawn ones are 0.14-0.26 MB)."""

    def create(self, prompt: str, aspect_ratio: str, version: str) -> Image.Image:
        img = super().create(prompt, aspect_ratio, version).convert('RGB')
        noise = Image.merge('RGB', [Image.effect_noise(img.size, 8) for _ in range(3)])
        return ImageChops.add(img, noise, scale=1.0, offset=-128)


def _spread(values: list[float]) -> str:
    if not values:
        return 'none'
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f'median {statistics.median(values):.3f} p90 {p90:.3f} max {values[-1]:.3f}'


def one_run(args: argparse.Namespace, bound: float = 0.5) -> tuple[float, int]:
    """One kill and resume; prints its figures and returns (oldest re-paid, re-paid >= bound)."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / 'trace.tsv'
        kill_after = random.uniform(args.kill_from, args.kill_to)
        entries, kill_wall, resume_started, _ = _kill_and_resume(
            Path(tmp),
            latency=args.latency,
            kill_after=kill_after,
            busy=args.busy,
            n=args.n,
            megapixels=args.megapixels,
            trace=trace,
            backend=NoisyBackend(args.megapixels) if args.noisy else None,
        )
        steps: dict[str, dict[str, float]] = collections.defaultdict(dict)
        samples: collections.Counter[str] = collections.Counter()
        for line in trace.read_text().splitlines():
            rid, stage, at = line.split('\t')
            if rid == 'sample':
                samples[stage] += int(at)
                continue
            steps[rid].setdefault(stage, float(at))
        for rid, times in _SERVER.items():
            steps[rid].update(times)
        _SERVER.clear()
    before = [e for e in entries if e['t_start'] < resume_started and e['status'] == 200]
    resumed = {e['prompt'] for e in entries if e['t_start'] >= resume_started}
    age = {e['prompt']: kill_wall - e['t_end'] for e in before}
    repaid = sorted(age[p] for p in resumed if p in age)
    old = sum(a >= bound for a in repaid)
    print(
        f'kill at {kill_after:.2f} s: {len(before)} answered before it, {len(repaid)} of them '
        f're-paid, {old} >= {bound} s old (oldest {repaid[-1] if repaid else 0:.2f} s)'
    )
    rid = {e['prompt']: e['request_id'] for e in before}
    for p in sorted((p for p in resumed if p in age and age[p] >= bound), key=age.get):
        s = steps.get(rid[p], {})
        when = [f'{kill_wall - s[k]:.2f}' if k in s else '?' for k in ('sending', 'sent')]
        print(
            f'  re-paid, {age[p]:.2f} s old by t_end: the stand-in started sending it {when[0]} s '
            f'and had written it {when[1]} s before the kill (negative: after)'
        )
    noted = [e for e in before if 'noted' in steps.get(e['request_id'], {})]
    previous = 't_end'
    for stage in STAGES:
        lags = []
        for e in noted:
            s = steps[e['request_id']]
            start = e['t_end'] if previous == 't_end' else s.get(previous)
            if stage in s and start is not None:
                lags.append(s[stage] - start)
        print(f'  {previous} -> {stage}: {_spread(lags)}')
        previous = stage
    total = [steps[e['request_id']]['noted'] - e['t_end'] for e in noted]
    print(f'  t_end -> noted: {_spread(total)} over {len(noted)} answers')
    child = [s['noted'] - s['sent'] for e in noted if 'sent' in (s := steps[e['request_id']])]
    print(f'  sent -> noted (the child alone): {_spread(child)}')
    if samples:
        total_samples = sum(samples.values())
        print(f'  event loop thread, {total_samples} samples:')
        for key, n in samples.most_common(15):
            print(f'    {100 * n / total_samples:5.1f} %  {key}')
    return (repaid[-1] if repaid else 0.0), old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--busy', type=int, default=2, help='busy processes beside the child')
    parser.add_argument('--megapixels', type=float, default=0.01, help='size of each answer')
    parser.add_argument('--noisy', action='store_true', help='photo-sized PNGs (NoisyBackend)')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--kill-from', type=float, default=2.0, help='earliest kill, seconds')
    parser.add_argument('--kill-to', type=float, default=5.0, help='latest kill, seconds')
    parser.add_argument('--n', type=int, default=400, help='cells in the run')
    parser.add_argument('--latency', type=float, default=0.5)
    args = parser.parse_args()
    results = [one_run(args) for _ in range(args.runs)]
    print(
        f'{args.runs} runs, {args.busy} busy, {args.megapixels} MP: oldest re-paid '
        f'{max(r[0] for r in results):.2f} s; runs re-paying an answer >= 0.5 s old: '
        f'{sum(r[1] > 0 for r in results)} ({sum(r[1] for r in results)} answers)'
    )


if __name__ == '__main__':
    main()
