"""Issue 20: Pixeltable and reverie on the same inputs, in the same run.

``python -m bench.pixeltable_compare [--pxt-python PATH] [--rounds N]``

Pixeltable is not a dependency and is never imported here or by reverie: it runs in its own
virtual environment's interpreter (``--pxt-python``, else ``$REVERIE_PXT_PYTHON``, else the
first of ``.venv-pixeltable/bin/python`` and ``/work/pxt-venv/bin/python`` that exists;
``make bench-pixeltable`` makes the first). Each round runs one child per library, in
alternating order, each a fresh interpreter on a fresh home (Pixeltable: a fresh
``PIXELTABLE_HOME``, so its own embedded PostgreSQL; reverie: a fresh SQLite home), and each
child does the same work through its library's public API:

- ``import pixeltable`` / ``import reverie`` (the child's first statement);
- insert 100, then 1,000 distinct 512x512 PNG files by path into a new table with an Image
  column: ``bench.tables._write_pngs``' drawings (~2.6 KB each: the per-file cost), then 100
  of ``bench.s3._pngs``' noise (~390 KB each: the per-byte cost, as a photo has); all
  written once before the rounds;
- insert 10,000, then 100,000 (int, string) rows into a new table, in batches of 100,000;
- ``t.where(is_even(t.i)).collect()`` over the 100,000-row table (a Python UDF filter).

The figures are medians of the rounds; the ratio is reverie's rate over Pixeltable's (for
import, Pixeltable's time over reverie's), so above 1 means reverie is faster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROUNDS = 3
PNG_SETS = (('png', 100), ('png', 1_000), ('noise', 100))  # (kind, files)
ROW_SIZES = (10_000, 100_000)
BATCH = 100_000
MARK = 'PXT-COMPARE '
_KINDS = {'png': 'drawn', 'noise': 'noise'}
ROOT = Path(__file__).resolve().parent.parent
PXT_PYTHONS = (ROOT / '.venv-pixeltable' / 'bin' / 'python', Path('/work/pxt-venv/bin/python'))
# (key, label, unit): rates are rows per second, import in seconds.
FIGURES = (
    ('import_s', 'import', 's'),
    *(
        (f'{kind}_{n}', f'insert {n:,} {_KINDS[kind]} PNG files by path', 'rows/s')
        for kind, n in PNG_SETS
    ),
    *((f'rows_{n}', f'insert {n:,} (int, string) rows', 'rows/s') for n in ROW_SIZES),
    (f'filter_{ROW_SIZES[-1]}', f'where(is_even(t.i)).collect(), {ROW_SIZES[-1]:,} rows', 'rows/s'),
)


def pixeltable_python(given: str | None = None) -> str | None:
    """The Pixeltable venv's interpreter: ``given``, ``$REVERIE_PXT_PYTHON`` or a default."""
    chosen = given or os.environ.get('REVERIE_PXT_PYTHON')
    if chosen:
        return chosen if Path(chosen).exists() else None
    return next((str(p) for p in PXT_PYTHONS if p.exists()), None)


# ---- the children: stdlib at module level, each library imported inside its own child ----


def _rows(n: int) -> list[dict[str, Any]]:
    return [{'i': i, 's': f'row {i}'} for i in range(n)]


def is_even(x: int) -> bool:
    """The filter UDF (at module level: Pixeltable refuses a nested function)."""
    return x % 2 == 0


def _pngs(png_dir: Path, kind: str, n: int) -> list[str]:
    return [str(p) for p in sorted((png_dir / f'{kind}_{n}').glob('*.png'))]


def _write_inputs(png_dir: Path) -> None:
    """The PNG files of ``PNG_SETS``, each set distinct from the others."""
    from bench.s3 import _pngs as noise_pngs
    from bench.tables import _write_pngs

    for salt, (kind, n) in enumerate(PNG_SETS, start=1):
        folder = png_dir / f'{kind}_{n}'
        if kind == 'png':
            _write_pngs(folder, n, salt=salt)
            continue
        folder.mkdir(parents=True)
        for k, data in enumerate(noise_pngs(n)):
            (folder / f'img_{k:04d}.png').write_bytes(data)


def _work(lib: Any, kinds: dict[str, Any], png_dir: Path, out: dict[str, float]) -> None:
    """The same calls in either library: ``lib`` has create_table and udf, ``kinds`` the types."""
    even = lib.udf(is_even)
    quiet = {'print_stats': False}
    for kind, n in PNG_SETS:
        t = lib.create_table(f'{kind}_{n}', {'img': kinds['Image']})
        rows = [{'img': p} for p in _pngs(png_dir, kind, n)]
        assert len(rows) == n, f'{len(rows)} PNGs in {png_dir}, expected {n}'
        start = time.perf_counter()
        t.insert(rows, **quiet)
        out[f'{kind}_{n}'] = n / (time.perf_counter() - start)
        assert t.count() == n
    for n in ROW_SIZES:
        t = lib.create_table(f'rows_{n}', {'i': kinds['Int'], 's': kinds['String']})
        rows = _rows(n)
        start = time.perf_counter()
        for k in range(0, n, BATCH):
            t.insert(rows[k : k + BATCH], **quiet)
        out[f'rows_{n}'] = n / (time.perf_counter() - start)
        assert t.count() == n
    start = time.perf_counter()
    found = t.where(even(t.i)).collect()
    out[f'filter_{n}'] = n / (time.perf_counter() - start)
    assert len(found) == (n + 1) // 2


def _child(lib_name: str, png_dir: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    if lib_name == 'pixeltable':
        start = time.perf_counter()
        import pixeltable as pxt  # type: ignore[import-not-found]

        out['import_s'] = time.perf_counter() - start
        start = time.perf_counter()
        pxt.init()  # PIXELTABLE_HOME is a fresh folder: this makes its database
        out['init_s'] = time.perf_counter() - start
        kinds = {'Image': pxt.Image, 'Int': pxt.Int, 'String': pxt.String}
        _work(pxt, kinds, png_dir, out)
        return out
    start = time.perf_counter()
    import reverie as rv

    out['import_s'] = time.perf_counter() - start
    from bench.common import fresh_home

    start = time.perf_counter()
    with fresh_home():
        out['init_s'] = time.perf_counter() - start
        kinds = {'Image': rv.Image, 'Int': rv.Int, 'String': rv.String}
        _work(rv, kinds, png_dir, out)
    return out


# ---- the driver --------------------------------------------------------------------------


def _run_child(python: str, lib_name: str, png_dir: Path) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix=f'bench-{lib_name}-'))
    env = {
        **os.environ,
        'PIXELTABLE_HOME': str(home),
        'REVERIE_PROGRESS': '0',
        'PYTHONPATH': str(ROOT),
    }
    # Imported, not run as __main__: Pixeltable refuses a UDF defined in a script's globals.
    code = 'import sys; from bench.pixeltable_compare import main; main(sys.argv[1:])'
    cmd = [python, '-c', code, '--child', lib_name, str(png_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    finally:
        _stop_postgres(home / 'pgdata')
        shutil.rmtree(home, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return dict(json.loads(line[len(MARK) :]))
    sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
    raise RuntimeError(f'the {lib_name} child failed (exit {proc.returncode})')


def _stop_postgres(pgdata: Path, timeout: float = 30.0) -> None:
    """Stop the server Pixeltable left running on ``pgdata`` (it does not stop its own)."""
    try:
        pid = int((pgdata / 'postmaster.pid').read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def compare(python: str, rounds: int = ROUNDS, log: Any = None) -> dict[str, Any]:
    """Run both libraries ``rounds`` times, alternating; the medians, ratios and every run."""
    png_dir = Path(tempfile.mkdtemp(prefix='bench-pxt-pngs-'))
    runs: dict[str, list[dict[str, float]]] = {'pixeltable': [], 'reverie': []}
    try:
        _write_inputs(png_dir)
        for r in range(rounds):
            order = ('pixeltable', 'reverie') if r % 2 == 0 else ('reverie', 'pixeltable')
            for lib_name in order:
                start = time.perf_counter()
                exe = python if lib_name == 'pixeltable' else sys.executable
                runs[lib_name].append(_run_child(exe, lib_name, png_dir))
                if log is not None:
                    log(f'  ran {lib_name} round {r + 1}: {time.perf_counter() - start:.1f} s')
    finally:
        shutil.rmtree(png_dir, ignore_errors=True)
    out: dict[str, Any] = {'rounds': rounds, 'runs': runs}
    for key in runs['reverie'][0]:
        pxt_value = statistics.median(run[key] for run in runs['pixeltable'])
        ours = statistics.median(run[key] for run in runs['reverie'])
        out[key] = {
            'pixeltable': pxt_value,
            'reverie': ours,
            'ratio': pxt_value / ours if key.endswith('_s') else ours / pxt_value,
        }
    return out


def bench_section() -> dict[str, Any]:
    """For ``python -m bench``: the comparison when a Pixeltable interpreter exists, else {}."""
    python = pixeltable_python()
    if python is None:
        print(
            '  skipped pixeltable_compare: no Pixeltable venv (`make bench-pixeltable` makes one)'
        )
        return {}
    start = time.perf_counter()
    try:
        result = compare(python)
    except RuntimeError as e:  # the rest of the bench's figures still print
        print(f'  pixeltable_compare failed: {e}', flush=True)
        return {}
    print(f'  ran {"pixeltable_compare":<16} {time.perf_counter() - start:6.1f} s', flush=True)
    return result


def bench_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """Rows for ``python -m bench``: (figure, reverie, Pixeltable, target, met), medians."""
    rows = []
    for key, label, unit in FIGURES:
        f = result[key]
        fmt = '{:.2f} s' if unit == 's' else '{:,.0f} rows/s'
        goal = 1.2 if key.startswith(('png_', 'noise_')) else 1.0  # issue 20: image ingest >= 1.2x
        rows.append(
            (
                f'{label} vs Pixeltable (median of {result["rounds"]})',
                f'{fmt.format(f["reverie"])} ({f["ratio"]:.2f}x)',
                f'Pixeltable {fmt.format(f["pixeltable"])}, same run',
                f'>= {goal:.1f}x',
                f['ratio'] >= goal,
            )
        )
    return rows


def main(argv: list[str]) -> None:
    if argv[:1] == ['--child']:
        result = _child(argv[1], Path(argv[2]))
        print(MARK + json.dumps(result), flush=True)
        return
    given = argv[argv.index('--pxt-python') + 1] if '--pxt-python' in argv else None
    rounds = int(argv[argv.index('--rounds') + 1]) if '--rounds' in argv else ROUNDS
    python = pixeltable_python(given)
    if python is None:
        raise SystemExit(
            'no Pixeltable interpreter: pass --pxt-python, set REVERIE_PXT_PYTHON or run '
            '`make bench-pixeltable`'
        )
    result = compare(python, rounds, log=lambda s: print(s, flush=True))
    from bench.__main__ import Row, render

    print()
    print(render([Row('20 vs pxt', *row) for row in bench_rows(result)]))
    print('raw: ' + json.dumps(result, sort_keys=True))


if __name__ == '__main__':
    main(sys.argv[1:])
