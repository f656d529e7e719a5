"""The ``reverie`` command: parses arguments, calls the public API, prints.

    reverie demo                 run the Reve tutorial end to end
    reverie tables [DIR]         list tables (alias: reverie ls)
    reverie describe TABLE       show a table's schema and row count
    reverie resume [TABLE ...]   finish pending cells (all tables when none given)
    reverie estimate TABLE       what finishing its pending cells would cost (sends nothing)
    reverie calls [TABLE]        the ledger of paid calls, per table and outcome
    reverie gc [--grace S]       delete media files no row refers to
    reverie models               the image models: status, shut-down dates, limits, prices
    reverie worker [TABLE ...]   keep finishing pending cells until stopped (--tables a,b)
    reverie workers              list the live workers on this database
    reverie reve-server          serve the local Reve-compatible API
    reverie ui                   browse tables, images, errors, cost and work in a browser

A reverie error prints one line on stderr and exits with status 1.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence

import sqlalchemy as sa

from reverie import api, demo
from reverie.catalog.revert import referenced_media
from reverie.catalog.table import Table, worker_job
from reverie.errors import Error, InvalidValueError
from reverie.exec.shared_limits import SharedLimits
from reverie.exec.worker import Job, Terminated, run_worker
from reverie.functions.images import models
from reverie.reve_server import cli as server_cli
from reverie.store.db import database_problem


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reverie`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, 'command', None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except Error as e:
        print(f'error: {for_the_shell(str(e))}', file=sys.stderr)
        return 1
    except sa.exc.OperationalError as e:
        # An unreachable or refusing database: one line, never the driver's traceback.
        print(f'error: {database_problem(e)}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('Interrupted.', file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='reverie',
        description='Tables of media whose columns compute themselves: the command line.',
        epilog=(
            'Settings come from REVERIE_HOME (default ~/.reverie), REVERIE_DB_URL, REVE_API_URL '
            'and REVE_API_KEY, or REVERIE_HOME/config.toml. "reverie COMMAND --help" shows a '
            "command's options."
        ),
    )
    sub = parser.add_subparsers(dest='command')

    p = sub.add_parser('demo', help='run the Reve tutorial end to end')
    p.add_argument('--out', default='demo_output', help='folder for the HTML gallery')
    p.set_defaults(run=_demo)

    p = sub.add_parser('tables', aliases=['ls'], help='list tables, views and snapshots')
    p.add_argument('dir', nargs='?', default='', help='only the tables in this directory')
    p.set_defaults(run=_tables)

    p = sub.add_parser('describe', help="show a table's schema and row count")
    p.add_argument('table', help="the table's path, e.g. reve_demo/scenes")
    p.set_defaults(run=_describe)

    p = sub.add_parser('resume', help='finish pending cells of tables')
    p.add_argument('tables', nargs='*', help='table paths (default: every table)')
    p.set_defaults(run=_resume)

    p = sub.add_parser('estimate', help='what finishing pending cells would cost (dry run)')
    p.add_argument('table', help="the table's path, e.g. reve_demo/scenes")
    p.add_argument('--budget', type=float, default=None, help='credits the run may spend')
    p.set_defaults(run=_estimate)

    p = sub.add_parser('calls', help='the ledger of paid calls, per table and outcome')
    p.add_argument('table', nargs='?', default=None, help='only the calls of this table')
    p.set_defaults(run=_calls)

    p = sub.add_parser('gc', help='delete media files that no row refers to')
    p.add_argument('--grace', type=float, default=3600.0, help='keep files younger than this (s)')
    p.set_defaults(run=_gc)

    p = sub.add_parser('worker', help='keep finishing pending cells (scale-out with PostgreSQL)')
    p.add_argument('tables', nargs='*', help='table paths (default: every table and view)')
    p.add_argument('--tables', dest='table_list', default='', help='comma-separated table paths')
    p.add_argument(
        '--concurrency', type=int, default=None, help='calls in flight per pool in this worker'
    )
    p.add_argument('--interval', type=float, default=2.0, help='seconds between polls')
    p.add_argument('--once', action='store_true', help='one pass, then exit')
    p.set_defaults(run=_worker)

    p = sub.add_parser(
        'models', help='the image models: status, shut-down dates, replacements, limits, prices'
    )
    p.add_argument(
        '--brief', action='store_true', help='one line per model: id, status and replacement'
    )
    p.set_defaults(run=_models)
    p = sub.add_parser('workers', help='list the live workers on this database')
    p.set_defaults(run=_workers)

    p = sub.add_parser('ui', help='serve the local web app over these tables')
    p.add_argument('--host', default='127.0.0.1', help='not loopback: a token is required')
    p.add_argument('--port', type=int, default=0, help='0 picks a free port')
    p.add_argument('--home', default=None, help='REVERIE_HOME to open (default: the usual)')
    p.add_argument('--allow-writes', action='store_true', help='allow marks and recomputes')
    p.set_defaults(run=_ui)

    p = sub.add_parser('reve-server', help='serve the local Reve-compatible API')
    server_cli.add_arguments(p)
    p.set_defaults(run=server_cli.run)
    return parser


_SHELL = (
    (re.compile(r'rv\.list_tables\(\)'), '`reverie tables`'),
    (re.compile(r"rv\.list_tables\('([^']*)'\)"), r'`reverie tables \1`'),
    (re.compile(r'rv\.calls\(\)'), '`reverie calls`'),
)


def for_the_shell(message: str) -> str:
    """An error's advice in commands of this shell (``reverie tables``), not Python calls."""
    for pattern, command in _SHELL:
        message = pattern.sub(command, message)
    return message


def _demo(args: argparse.Namespace) -> int:
    return demo.main(out=args.out)


def _tables(args: argparse.Namespace) -> int:
    """Each table's path; a view or snapshot also says what it is based on."""
    kinds = api.default_catalog().kinds()
    for path in api.list_tables(args.dir):
        kind = kinds.get(path, 'table')
        if kind == 'table':
            print(path)
        else:
            base = api.get_table(path).get_metadata()['base']
            print(f'{path}  ({kind} of {base})')
    return 0


def _describe(args: argparse.Namespace) -> int:
    t = api.get_table(args.table)
    t.describe()
    count = t.count()
    print(f'{count} row{"" if count == 1 else "s"}')
    return 0


def _selected(paths: Sequence[str]) -> list[Table]:
    """The tables named, or every table and view (a snapshot is frozen: nothing to compute)."""
    if paths:
        return [api.get_table(p) for p in paths]
    kinds = api.default_catalog().kinds()
    return [api.get_table(p) for p in api.list_tables() if kinds.get(p) != 'snapshot']


def _resume(args: argparse.Namespace) -> int:
    for t in _selected(args.tables):
        print(f'Resuming {t.get_metadata()["path"]!r}:')
        t.recompute_columns()
    return 0


def _estimate(args: argparse.Namespace) -> int:
    api.get_table(args.table).recompute_columns(dry_run=True, budget=args.budget)
    return 0


def _calls(args: argparse.Namespace) -> int:
    calls = api.calls(args.table)
    print(calls.group_by('table', 'outcome', 'cache_hit').collect())
    print(f'Total: {calls.total()} (credits and USD are billed apart)')
    return 0


def _gc(args: argparse.Namespace) -> int:
    catalog = api.default_catalog()
    # Rows of every table at every version (time travel and revert need them), and the
    # journal of paid answers.
    done = catalog.media.gc(referenced_media(catalog), grace_seconds=args.grace)
    plural = '' if done.removed == 1 else 's'
    print(f'Removed {done.removed} unreferenced media file{plural} ({done.freed / 2**20:.1f} MiB).')
    if done.young:
        files = f'{done.young} unreferenced file{"" if done.young == 1 else "s"}'
        if args.grace > 0:
            print(
                f'Kept {files} younger than the grace period ({args.grace:g} s); run again '
                'later or pass --grace 0 when nothing is writing.'
            )
        else:
            print(
                f'Kept {files} whose modification time is not in the past (being written now, '
                'or a clock ahead); run again once nothing is writing.'
            )
    return 0


def _models(args: argparse.Namespace) -> int:
    """The model table: a line per model, then (unless --brief) its limits, price, source."""
    rows = models.rows()
    width = max(len(r['model']) for r in rows)
    for r in rows:
        instead = f'  -> {r["instead"]}' if r['instead'] else ''
        print(f'{r["model"]:<{width}}  {r["status"]}{instead}')
        if args.brief:
            continue
        for key in ('verbs', 'limits', 'price', 'source'):
            if r[key]:
                print(f'    {key}: {r[key]}')
    print(
        'Ids not listed (a Reve version, local/<Hugging Face id>, newer models) are sent as given.'
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    paths = [*args.tables, *(p.strip() for p in args.table_list.split(',') if p.strip())]
    if args.concurrency is not None and args.concurrency < 1:
        raise InvalidValueError(f'--concurrency {args.concurrency} must be 1 or more.')
    catalog = api.default_catalog()
    # Provider limits hold for every worker on the database, not per process.
    limits = catalog.limits or SharedLimits(catalog.store)
    catalog.pools.share(limits.window, cap=args.concurrency)

    def jobs() -> list[Job]:
        return [worker_job(t) for t in _selected(paths)]

    try:
        run_worker(
            jobs,
            catalog.store,
            interval=args.interval,
            once=args.once,
            calls=lambda: sum(p.stats.calls for p in catalog.pools),
            on_exit=limits.close,
        )
    except Terminated:
        print('Stopped (SIGTERM); claims given up.', file=sys.stderr)
        return 143
    return 0


def _workers(args: argparse.Namespace) -> int:
    now = time.time()
    live = api.workers()
    print(f'{len(live)} live worker{"" if len(live) == 1 else "s"}')
    for w in live:
        print(
            f'{w.host}  pid {w.pid}  claims {w.claims}  {w.calls_per_minute:.1f} calls/min  '
            f'beat {now - w.heartbeat:.0f} s ago  up {now - w.started:.0f} s  '
            f'tables {", ".join(w.tables) or "-"}'
        )
    return 0


def _ui(args: argparse.Namespace) -> int:
    try:
        from reverie.ui.server import serve  # the optional [ui] extra
    except ImportError as e:
        print(
            f"error: reverie ui needs the ui extra ({e.name}): pip install 'reverie[ui]'",
            file=sys.stderr,
        )
        return 1
    catalog = api.init({'home': args.home}) if args.home else api.default_catalog()
    serve(catalog, host=args.host, port=args.port, allow_writes=args.allow_writes)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
