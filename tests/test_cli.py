"""The ``reverie`` command as a user runs it: output, exit status, one-line errors."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import PIL.Image
import pytest

import reverie as rv
from reverie.cli import main


@pytest.fixture
def table(sqlite_catalog):
    rv.create_dir('d')
    t = rv.create_table('d/items', {'name_': rv.String, 'n': rv.Int})
    t.insert([{'name_': 'a', 'n': 1}, {'name_': 'b', 'n': 2}], print_stats=False)
    return t


def test_tables_and_describe(table, capsys):
    assert main(['tables']) == 0
    assert capsys.readouterr().out.splitlines() == ['d/items']
    assert main(['describe', 'd.items']) == 0
    out = capsys.readouterr().out
    assert 'Column Name' in out and 'n' in out and '2 rows' in out


def test_error_is_one_line_on_stderr_with_status_1(table, capsys):
    assert main(['describe', 'd/itemz']) == 1
    captured = capsys.readouterr()
    assert captured.out == ''
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith('error: ') and "Did you mean 'd/items'?" in lines[0]


def test_resume_and_gc_on_a_finished_table(table, capsys):
    assert main(['resume', 'd/items']) == 0
    assert 'Computed 0 cells' in capsys.readouterr().out
    assert main(['gc', '--grace', '0']) == 0
    assert 'Removed 0 unreferenced media files' in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert 'reve-server' in capsys.readouterr().out


def test_describe_counts_one_row_in_the_singular(sqlite_catalog, capsys):
    t = rv.create_table('one', {'n': rv.Int})
    t.insert(n=1, print_stats=False)
    capsys.readouterr()
    assert main(['describe', 'one']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == '1 row'


def test_unreachable_postgres_is_one_line_not_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(('REVERIE_', 'REVE_'))}
    env['REVERIE_HOME'] = str(tmp_path / 'home')
    env['REVERIE_DB_URL'] = 'postgresql+psycopg://someone:hunter2@127.0.0.1:1/nowhere'
    proc = subprocess.run(
        [sys.executable, '-m', 'reverie.cli', 'tables'],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith('error: Cannot use the database: ')
    assert 'REVERIE_DB_URL' in lines[0] and 'hunter2' not in lines[0]


def test_gc_says_how_many_files_wait_for_the_grace_period(sqlite_catalog, capsys):
    t = rv.create_table('pics', {'img': rv.Image})
    t.insert([{'img': PIL.Image.new('RGB', (8, 8), c)} for c in ('red', 'blue')], print_stats=False)
    t.delete()
    capsys.readouterr()
    assert main(['gc', '--grace', '0']) == 0  # deleted rows stay in the history: files kept
    assert 'Removed 0 unreferenced media files' in capsys.readouterr().out
    rv.drop_table('pics')  # the history goes with the table
    assert main(['gc']) == 0
    out = capsys.readouterr().out
    assert 'Removed 0 unreferenced media files' in out
    assert 'Kept 2 unreferenced files younger than the grace period (3600 s)' in out
    assert main(['gc', '--grace', '0']) == 0
    out = capsys.readouterr().out
    assert 'Removed 2 unreferenced media files' in out and 'Kept' not in out


def test_worker_once_prints_a_summary(table, capsys):
    @rv.udf
    def double(n: int) -> int:
        return 2 * n

    table.add_computed_column(twice=double(table.n), print_stats=False)
    capsys.readouterr()
    assert main(['worker', '--once']) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == 'Worker pass done: 1 table checked, 0 cells computed, 0 errors.'


def test_help_is_clean_text(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert '``' not in out and 'parses arguments' not in out
    assert 'Tables of media whose columns compute themselves' in out
    assert 'REVE_API_KEY' in out and 'reve-server' in out


def test_gc_grace_0_never_advises_grace_0(sqlite_catalog, capsys):
    # Issue 22: a file dated in the future was "younger than the grace period (0 s)...
    # pass --grace 0".
    foreign = rv.api.default_catalog().media.local_path('ab/ab' + 'c' * 62 + '.png')
    foreign.parent.mkdir(parents=True, exist_ok=True)
    foreign.write_bytes(b'not ours')
    future = time.time() + 3600
    os.utime(foreign, (future, future))
    assert main(['gc', '--grace', '0']) == 0
    out = capsys.readouterr().out
    assert 'Kept 1 unreferenced file whose modification time is not in the past' in out
    assert '--grace 0' not in out


def test_every_subcommand_documents_each_argument():
    from reverie.cli import _parser

    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f'{name} {action.dest}'
        for name, p in sub.choices.items()
        for action in p._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert missing == []


def test_ls_is_tables_and_errors_suggest_commands(sqlite_catalog, capsys):
    rv.create_dir('d')
    rv.create_table('d/scenes', {'n': rv.Int})
    capsys.readouterr()
    assert main(['ls', 'd']) == 0
    assert capsys.readouterr().out.splitlines() == ['d/scenes']
    assert main(['describe', 'd/scene']) == 1
    err = capsys.readouterr().err
    assert '`reverie tables d`' in err and 'rv.list_tables' not in err
