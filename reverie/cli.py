"""The ``reverie`` command: parses arguments, calls the public API, prints.

    reverie demo                 run the Reve tutorial end to end
    reverie tables [DIR]         list tables
    reverie describe TABLE       show a table's schema and row count
    reverie resume [TABLE ...]   finish pending cells (all tables when none given)
    reverie estimate TABLE       what finishing its pending cells would cost (sends nothing)
    reverie calls [TABLE]        the ledger of paid calls, per table and outcome
    reverie gc [--grace S]       delete media files no row refers to
    reverie worker [TABLE ...]   keep finishing pending cells until stopped
    reverie reve-server          serve the local Reve-compatible API

A reverie error prints one line on stderr and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import sqlalchemy as sa

from reverie import api, demo
from reverie.catalog.table import Table
from reverie.errors import Error
from reverie.reve_server import cli as server_cli
from reverie.store.db import columns_table


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
        print(f'error: {e}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('Interrupted.', file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='reverie', description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command')

    p = sub.add_parser('demo', help='run the Reve tutorial end to end')
    p.add_argument('--out', default='demo_output', help='folder for the HTML gallery')
    p.set_defaults(run=_demo)

    p = sub.add_parser('tables', help='list tables')
    p.add_argument('dir', nargs='?', default='')
    p.set_defaults(run=_tables)

    p = sub.add_parser('describe', help="show a table's schema and row count")
    p.add_argument('table')
    p.set_defaults(run=_describe)

    p = sub.add_parser('resume', help='finish pending cells of tables')
    p.add_argument('tables', nargs='*', help='table paths (default: every table)')
    p.set_defaults(run=_resume)

    p = sub.add_parser('estimate', help='what finishing pending cells would cost (dry run)')
    p.add_argument('table')
    p.add_argument('--budget', type=float, default=None, help='credits the run may spend')
    p.set_defaults(run=_estimate)

    p = sub.add_parser('calls', help='the ledger of paid calls, per table and outcome')
    p.add_argument('table', nargs='?', default=None)
    p.set_defaults(run=_calls)

    p = sub.add_parser('gc', help='delete media files that no row refers to')
    p.add_argument('--grace', type=float, default=3600.0, help='keep files younger than this (s)')
    p.set_defaults(run=_gc)

    p = sub.add_parser('worker', help='keep finishing pending cells (scale-out with PostgreSQL)')
    p.add_argument('tables', nargs='*')
    p.add_argument('--interval', type=float, default=2.0, help='seconds between polls')
    p.add_argument('--once', action='store_true', help='one pass, then exit')
    p.set_defaults(run=_worker)

    p = sub.add_parser('reve-server', help='serve the local Reve-compatible API')
    server_cli.add_arguments(p)
    p.set_defaults(run=server_cli.run)
    return parser


def _demo(args: argparse.Namespace) -> int:
    return demo.main(out=args.out)


def _tables(args: argparse.Namespace) -> int:
    for path in api.list_tables(args.dir):
        print(path)
    return 0


def _describe(args: argparse.Namespace) -> int:
    t = api.get_table(args.table)
    t.describe()
    print(f'{t.count()} rows')
    return 0


def _selected(paths: Sequence[str]) -> list[Table]:
    return [api.get_table(p) for p in (paths or api.list_tables())]


def _resume(args: argparse.Namespace) -> int:
    for t in _selected(args.tables):
        print(f'Resuming {t.path!r}:')
        t.recompute_columns()
    return 0


def _estimate(args: argparse.Namespace) -> int:
    api.get_table(args.table).recompute_columns(dry_run=True, budget=args.budget)
    return 0


def _calls(args: argparse.Namespace) -> int:
    print(api.calls(args.table).group_by('table', 'outcome', 'cache_hit').collect())
    return 0


def _gc(args: argparse.Namespace) -> int:
    catalog = api.default_catalog()
    referenced: set[str] = set()
    with catalog.store.read() as conn:
        rows = conn.execute(
            sa.select(columns_table.c.table_id, columns_table.c.id, columns_table.c.col_type)
        ).all()
    for table_id, col_id, col_type in rows:
        if col_type.get('type') != 'Image':
            continue
        schema = catalog.schema(table_id)
        col = schema.by_id(col_id)
        with catalog.store.read() as conn:
            refs = conn.execute(sa.select(schema.sa_table.c[col.sql.value])).scalars()
            referenced.update(r for r in refs if r)
    if catalog.exec.ledger is not None:  # paid-call layer: keep journalled answers
        referenced |= catalog.exec.ledger.journal_refs()
    removed, freed = catalog.media.gc(referenced, grace_seconds=args.grace)
    plural = '' if removed == 1 else 's'
    print(f'Removed {removed} unreferenced media file{plural} ({freed / 2**20:.1f} MiB).')
    return 0


def _worker(args: argparse.Namespace) -> int:
    while True:
        for t in _selected(args.tables):
            status = t.recompute_columns(print_stats=False)
            if status.num_computed_values:
                print(
                    f'{t.path}: computed {status.num_computed_values} cells '
                    f'({status.num_excs} errors).'
                )
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == '__main__':
    raise SystemExit(main())
