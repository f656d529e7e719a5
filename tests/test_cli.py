"""The ``reverie`` command as a user runs it: output, exit status, one-line errors."""

from __future__ import annotations

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
