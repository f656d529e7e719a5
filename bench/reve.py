"""Issues 3 and 4: Reve columns against the loopback Reve-compatible server."""

from __future__ import annotations

import io
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import PIL.Image

import reverie as rv
from bench.common import Timer, fresh_home, server_process
from reverie.config import Config
from reverie.functions import reve
from reverie.functions.images.calls import image_bytes
from reverie.functions.images.provider import ImageRequest, Verb

LATENCY = 1.0
N_ROWS = 20
SERVER_LIMIT = 4
KEY = 'papi.bench'


def _env(url: str, max_concurrency: int | None) -> dict[str, str]:
    """Settings pointing at the server; ``max_concurrency`` None keeps reverie's default."""
    env = {'REVE_API_URL': url, 'REVE_API_KEY': KEY}
    if max_concurrency is not None:
        env['REVE_MAX_CONCURRENCY'] = str(max_concurrency)
    return env


def _server_stats(server: Any, since: int = 0) -> dict[str, Any]:
    """Figures from the server's records, from record ``since`` on (one run's)."""
    records = server.requests[since:]
    statuses = Counter(r.status for r in records)
    endpoints = Counter(r.endpoint for r in records if r.status == 200)
    durations = [r.t_end - r.t_start for r in records if r.status == 200]
    return {
        'calls': sum(statuses.values()),
        'ok_calls': statuses.get(200, 0),
        'rejected_429': statuses.get(429, 0),
        'other_errors': sum(v for k, v in statuses.items() if k not in (200, 429)),
        'per_endpoint': dict(endpoints),
        'server_peak': server.peak_concurrency,
        'server_mean_call_s': statistics.fmean(durations) if durations else 0.0,
        'first_start_to_last_end_s': (
            max(r.t_end for r in records) - min(r.t_start for r in records) if records else 0.0
        ),
    }


def limited_server() -> dict[str, Any]:
    """20 rows, 3 Reve columns, a server that takes 4 calls at once and 429s the rest."""
    flags = (
        '--latency',
        str(LATENCY),
        '--max-concurrency',
        str(SERVER_LIMIT),
        '--retry-after',
        '1',
        '--megapixels',
        '0.01',
    )
    with server_process(*flags) as server, fresh_home(**_env(server.url, None)):
        t = rv.create_table('limited', {'a': rv.String})
        t.add_computed_column(b=reve.create(t.a), print_stats=False)
        t.add_computed_column(c=reve.create(t.a + ' variant'), print_stats=False)
        t.add_computed_column(
            d=reve.remix('<img>0</img> with <img>1</img>', images=[t.b, t.c]), print_stats=False
        )
        with Timer() as tm:
            status = t.insert(
                [{'a': f'a lighthouse, study {i}'} for i in range(N_ROWS)],
                print_stats=False,
                on_error='ignore',
            )
        out = _server_stats(server)
        out.update(
            wall_s=tm.seconds,
            bound_s=3 * N_ROWS * LATENCY / SERVER_LIMIT,
            cell_errors=status.num_excs,
        )
        return out


def limited_server_again() -> dict[str, Any]:
    """Issue 20: the server limit piece run twice on one home, each run a fresh catalog (fresh
    pools) as a new process would have; the figures are the second run's, which starts from
    what the ledger learned in the first (the first run's refusals are given beside them)."""
    flags = ('--latency', str(LATENCY), '--max-concurrency', str(SERVER_LIMIT))
    flags += ('--retry-after', '1', '--megapixels', '0.01')
    with server_process(*flags) as server, fresh_home(**_env(server.url, None)) as home:
        first: dict[str, Any] = {}
        for run in range(2):
            rv.init(
                {
                    'home': str(home),
                    'db_url': f'sqlite:///{home}/r.db',
                    'media_dir': str(home / 'media'),
                }
            )
            if run == 0:
                t = rv.create_table('limited', {'a': rv.String})
                t.add_computed_column(b=reve.create(t.a), print_stats=False)
                t.add_computed_column(c=reve.create(t.a + ' variant'), print_stats=False)
                images = [t.b, t.c]
                t.add_computed_column(
                    d=reve.remix('<img>0</img> with <img>1</img>', images=images),
                    print_stats=False,
                )
            t = rv.get_table('limited')
            seen = len(server.requests)
            with Timer() as tm:
                status = t.insert(
                    [{'a': f'a lighthouse, run {run} study {i}'} for i in range(N_ROWS)],
                    print_stats=False,
                    on_error='ignore',
                )
            records = server.requests[seen:]
            figures = {
                'calls': len(records),
                'rejected_429': sum(1 for r in records if r.status == 429),
                'wall_s': tm.seconds,
                'cell_errors': status.num_excs,
            }
            if run == 0:
                first = figures
        out = dict(figures)
        out.update(
            bound_s=3 * N_ROWS * LATENCY / SERVER_LIMIT,
            first_run_rejected_429=first['rejected_429'],
            first_run_calls=first['calls'],
            first_run_wall_s=first['wall_s'],
        )
        return out


def _sources(folder: Path, run: int = 0) -> list[str]:
    import PIL.Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(N_ROWS):
        path = folder / f'src_{run}_{k:02d}.png'
        PIL.Image.new('RGB', (128, 96), (k * 12, 80 + 40 * run, 200 - k * 5)).save(path)
        paths.append(str(path))
    return paths


async def _send(verb: Verb, prompt: str, images: list[Any], ratio: str | None) -> Any:
    """One Reve call straight through the provider: no ledger, journal, cache or budget."""
    request = ImageRequest(verb, 'latest', prompt, await image_bytes(images), ratio)
    answer = await reve.provider().send(request, Config.load())
    return PIL.Image.open(io.BytesIO(answer.image))


@rv.udf(resource_pool='reve', max_concurrency=64)
async def direct_create(prompt: str) -> PIL.Image.Image:
    return await _send('create', prompt, [], '16:9')


@rv.udf(resource_pool='reve', max_concurrency=64)
async def direct_edit(image: PIL.Image.Image, instruction: str) -> PIL.Image.Image:
    return await _send('edit', instruction, [image], None)


@rv.udf(resource_pool='reve', max_concurrency=64)
async def direct_remix(prompt: str, a: PIL.Image.Image, b: PIL.Image.Image) -> PIL.Image.Image:
    return await _send('remix', prompt, [a, b], '16:9')


def _seed_columns(t: Any, paid: bool) -> dict[str, Any]:
    """The three columns, through ``reve.*`` (the paid-call layer) or straight to the server."""
    edit, remix = (
        'Make it solarpunk: plants, solar glass',
        ('Place the subject of <img>0</img> into the scene of <img>1</img>'),
    )
    if not paid:
        return {
            'scene': lambda: direct_create(t.prompt),
            'edited': lambda: direct_edit(t.source_image, edit),
            'remixed': lambda: direct_remix(remix, t.edited, t.scene),
        }
    return {
        'scene': lambda: reve.create(t.prompt, aspect_ratio='16:9'),
        'edited': lambda: reve.edit(t.source_image, edit),
        'remixed': lambda: reve.remix(remix, images=[t.edited, t.scene], aspect_ratio='16:9'),
    }


def _add_seed_columns(t: Any, paid: bool = True) -> list[float]:
    times = []
    for name, expr in _seed_columns(t, paid).items():
        with Timer() as tm:
            t.add_computed_column(**{name: expr()}, print_stats=False)
        times.append(tm.seconds)
    return times


def _seed_rows(home: Path, run: int = 0) -> list[dict[str, Any]]:
    """20 rows; a later ``run`` gets other prompts and images (nothing from the cache)."""
    again = f'run {run} ' if run else ''
    return [
        {'prompt': f'a solarpunk oasis city at dawn, {again}take {i}', 'source_image': src}
        for i, src in enumerate(_sources(home / 'src', run))
    ]


def seed(
    mode: str, reve_max_concurrency: int | None, *, ledger: bool = True, runs: int = 1
) -> dict[str, Any]:
    """The Reve seed workflow on 20 rows: `insert` into a ready table, or `add` columns.

    ``ledger=False`` sends the same requests through the Reve provider from plain pooled
    UDFs, without the paid-call layer, to measure its overhead. ``runs=2``: the workflow
    again on the same database from a fresh catalog (fresh pools, as a new process has),
    new table, new prompts and images; the figures are the last run's, which starts from
    what the ledger learned, with the first run's beside them (``first_run_*``).
    """
    with (
        server_process('--latency', str(LATENCY), '--megapixels', '0.01') as server,
        fresh_home(**_env(server.url, reve_max_concurrency)) as home,
    ):
        first: dict[str, Any] = {}
        for run in range(runs):
            if run:
                settings = {'home': str(home), 'db_url': f'sqlite:///{home}/r.db'}
                rv.init({**settings, 'media_dir': str(home / 'media')})
            out = _seed_once(server, home, mode, ledger, run)
            first = first or out
        out.update(reve_max_concurrency=reve_max_concurrency)
        if runs > 1:
            out.update(
                first_run_wall_s=first['wall_s'],
                first_run_steps_s=first['steps_s'],
                first_run_rejected_429=first['rejected_429'],
            )
        return out


def _seed_once(server: Any, home: Path, mode: str, ledger: bool, run: int) -> dict[str, Any]:
    """One run of the seed workflow on its own table; its figures."""
    since = len(server.requests)
    t = rv.create_table(f'scenes{run or ""}', {'prompt': rv.String, 'source_image': rv.Image})
    rows = _seed_rows(home, run)
    if mode == 'insert':
        _add_seed_columns(t, ledger)
        with Timer() as tm:
            status = t.insert(rows, print_stats=False, on_error='ignore')
        errors = status.num_excs
        steps: list[float] = []
        bound = 2 * LATENCY
    else:
        t.insert(rows, print_stats=False)
        with Timer() as tm:
            steps = _add_seed_columns(t)
        errors = -1
        bound = 3 * LATENCY
    done = t.select(t.remixed).collect()['remixed']
    out = _server_stats(server, since)
    out.update(
        wall_s=tm.seconds,
        bound_s=bound,
        steps_s=steps,
        cell_errors=errors,
        remixed_cells=sum(v is not None for v in done),
    )
    return out
