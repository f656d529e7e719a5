"""What a notebook user reads: whole strings, pending cells, short statuses, one describe()."""

from __future__ import annotations

import re

import pytest

import reverie as rv
from reverie.catalog.changes import reset_cells
from reverie.exec.progress import bar_kind


@rv.udf
def shout(s: str) -> str:
    return s.upper() + '!'


@pytest.fixture
def prompts(catalog):
    t = rv.create_table('prompts', {'prompt': rv.String | None, 'n': rv.Int | None})
    return t


LONG = 'a very long prompt about a solarpunk oasis city at dawn, with <glass> & "plants"'


def test_html_keeps_long_strings_whole_with_hover_text(prompts, monkeypatch):
    monkeypatch.setenv('COLUMNS', '60')
    prompts.insert(prompt=LONG, n=1, print_stats=False)
    html = prompts.collect()._repr_html_()
    escaped = 'a very long prompt about a solarpunk oasis city at dawn, with &lt;glass&gt; &amp; '
    escaped += '&quot;plants&quot;'
    # the whole text, once as the cell and once as its hover title; clipped only by CSS
    assert f'<td class="rv-text" title="{escaped}">{escaped}</td>' in html
    assert 'text-overflow:ellipsis' in html
    assert '...' not in html
    # a narrow terminal's table cuts it short
    assert LONG not in repr(prompts.collect())


def test_pending_cells_look_pending_not_null(prompts, catalog):
    prompts.insert([{'prompt': 'a fox', 'n': 1}, {'prompt': None, 'n': 2}], print_stats=False)
    prompts.add_computed_column(loud=shout(prompts.prompt), print_stats=False)
    schema = catalog.schema(prompts._id)
    # what a crash or Ctrl-C leaves behind: the first row's cell not computed yet
    cond = schema.sa_table.c[schema.require('prompt').sql.value] == 'a fox'
    reset_cells(
        catalog.store, schema, [schema.require('loud')], cond, errors_only=False, cascade=False
    )

    for rs in (
        prompts.collect(),
        prompts.select(prompts.prompt, prompts.loud).collect(),
        prompts.select(prompts.loud, prompts.n + 1).where(prompts.n >= 1).collect(),  # Python path
    ):
        assert rs[0]['loud'] is None and rs[1]['loud'] is None  # both read as None ...
        assert rs.is_pending(0, 'loud') and not rs.is_pending(1, 'loud')  # ... one is pending
        html = rs._repr_html_()
        assert html.count('<td class="rv-pending"') == 1
        assert html.count('<td class="rv-null">None</td>') == (
            2 if 'prompt' in rs.column_names else 1
        )
        text = repr(rs)
        assert text.count('<pending>') == 1
    prompts.recompute_columns(print_stats=False)
    rs = prompts.collect()
    assert rs[0]['loud'] == 'A FOX!' and not rs.is_pending(0, 'loud')
    assert '<td class="rv-pending"' not in rs._repr_html_()


def test_status_repr_is_one_short_line(prompts):
    status = prompts.insert(prompt='a', n=1, print_stats=False)
    assert repr(status) == '1 row inserted.'
    status = prompts.add_computed_column(loud=shout(prompts.prompt), print_stats=False)
    assert repr(status) == '1 value computed.'
    status = prompts.insert([{'prompt': 'b', 'n': 2}, {'prompt': 'c', 'n': 3}], print_stats=False)
    assert str(status) == '2 rows inserted, 2 values computed.'
    assert status.num_rows == 2 and status.num_computed_values == 2  # the fields stay

    @rv.udf
    def fails(s: str) -> str:
        raise ValueError('no')

    status = prompts.add_computed_column(
        bad=fails(prompts.prompt), on_error='ignore', print_stats=False
    )
    assert repr(status) == '3 values computed, 3 errors (in bad).'
    assert repr(prompts.add_column(note=rv.String | None)) == '1 column added.'
    assert repr(prompts.update({'n': 5}, where=prompts.n == 1)) == '1 row updated.'
    assert repr(prompts.delete(where=prompts.n == 5)) == '1 row deleted.'
    status = prompts.insert(
        [{'prompt': 'd', 'n': 'x'}, {'prompt': 'e', 'n': 4}], on_error='ignore', print_stats=False
    )
    assert repr(status) == '1 row inserted, 1 row rejected, 2 values computed, 1 error (in bad).'


def test_pixeltable_lines_are_still_printed(prompts, capsys):
    prompts.insert(prompt='a', n=1)
    assert re.search(r'^Inserted 1 row with 0 errors in \d+\.\d\d s', capsys.readouterr().out)


def test_describe_prints_once_and_returns_nothing(prompts, capsys):
    assert prompts.describe() is None
    out = capsys.readouterr().out
    assert out.count("Table 'prompts'") == 1 and 'Column Name' in out


@pytest.mark.parametrize(
    ('setting', 'env', 'kernel', 'widgets', 'tty', 'kind'),
    [
        pytest.param(None, None, True, True, False, 'notebook', id='kernel-with-widgets'),
        pytest.param(None, None, True, False, False, 'text', id='kernel-without-widgets'),
        pytest.param(None, None, False, False, True, 'terminal', id='terminal'),
        pytest.param(None, None, False, False, False, 'off', id='pipe'),
        pytest.param(None, '0', True, True, True, 'off', id='env-off-in-kernel'),
        pytest.param(None, '0', False, False, True, 'off', id='env-off-on-terminal'),
        pytest.param(None, '1', False, False, False, 'terminal', id='env-on-in-pipe'),
        pytest.param(False, '1', True, True, True, 'off', id='setting-off'),
        pytest.param(True, None, False, False, False, 'terminal', id='setting-on'),
    ],
)
def test_bar_kind(monkeypatch, setting, env, kernel, widgets, tty, kind):
    if env is None:
        monkeypatch.delenv('REVERIE_PROGRESS', raising=False)
    else:
        monkeypatch.setenv('REVERIE_PROGRESS', env)
    assert bar_kind(setting, kernel=kernel, widgets=widgets, tty=tty) == kind
