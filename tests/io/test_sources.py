"""Reading sources: what is refused (with nothing written) and the optional dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import reverie as rv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def t(catalog):
    return rv.create_table('t', {'s': rv.String, 'n': rv.Int})


@pytest.mark.parametrize(
    ('name', 'content', 'match'),
    [
        pytest.param('rows.txt', 's\na\n', 'Cannot tell the format', id='extension'),
        pytest.param('rows.json', '[{"s": "a"', 'is not valid JSON', id='bad-json'),
        pytest.param('rows.json', '{"s": "a"}', 'must hold a list of objects', id='not-a-list'),
        pytest.param('rows.jsonl', '{"s": "a"}\n[1]\n', 'one object per line', id='jsonl-list'),
        pytest.param('rows.json', '[{"s": ' * 3000 + '1' + '}]' * 3000, 'nest', id='deep'),
        pytest.param(
            'rows.csv', 's,n\na,1\nb,two\n', r"Column 'n' \(table 't', row 1\)", id='bad-value'
        ),
    ],
)
def test_bad_file_refused_with_nothing_written(t, tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(rv.InvalidValueError, match=match):
        t.insert(str(path))
    assert t.count() == 0


def test_deep_json_file_message(t, tmp_path):
    path = tmp_path / 'deep.jsonl'
    path.write_text('{"s": "a", "n": 1}\n' + '{"n": ' * 5000 + '1' + '}' * 5000 + '\n')
    with pytest.raises(rv.InvalidValueError, match='nested at most 64 levels deep'):
        t.insert(path)
    assert t.count() == 0


def test_missing_file_and_wrong_kinds(t, tmp_path):
    with pytest.raises(rv.InvalidValueError, match=r"File '.*nope\.csv' does not exist"):
        t.insert(str(tmp_path / 'nope.csv'))
    with pytest.raises(rv.InvalidValueError, match='takes a list of dicts, a DataFrame or a file'):
        t.insert(42)
    assert t.count() == 0


def test_create_table_from_source_refusals(catalog, tmp_path):
    rows = [{'s': 'a', 'gone': None}]
    with pytest.raises(rv.InvalidValueError, match='a schema or a source, not both'):
        rv.create_table('u', {'s': rv.String}, source=rows)
    with pytest.raises(rv.InvalidValueError, match=r"Cannot tell the type of column\(s\) 'gone'"):
        rv.create_table('u', source=rows)
    with pytest.raises(rv.InvalidValueError, match=r"schema_overrides names 'nope'"):
        rv.create_table('u', source=rows, schema_overrides={'nope': rv.Int})
    with pytest.raises(rv.InvalidValueError, match=r'mixes values of kinds'):
        rv.create_table('u', source=[{'x': 1}, {'x': rv.String}])
    assert rv.list_tables() == []
    t = rv.create_table('u', source=rows, schema_overrides={'gone': rv.Int | None})
    assert t.collect().raw_rows() == [('a', None)]


def test_bad_row_in_source_leaves_no_table(catalog, tmp_path):
    rows = [{'img': str(tmp_path / 'missing.png')}]
    with pytest.raises(rv.InvalidValueError, match='does not exist'):
        rv.create_table('pics', source=rows, schema_overrides={'img': rv.Image})
    assert rv.list_tables() == []
    rows = [{'n': 1}, {'n': 'x'}]
    t = rv.create_table('mixed', source=rows, schema_overrides={'n': rv.Int}, on_error='ignore')
    assert t.collect()['n'] == [1]


def test_create_table_if_exists_ignore_inserts_nothing(catalog):
    rv.create_table('u', source=[{'s': 'a'}])
    again = rv.create_table('u', source=[{'s': 'b'}], if_exists='ignore')
    assert again.collect()['s'] == ['a']


def test_export_refusals(catalog, tmp_path):
    t = rv.create_table('t', {'a': rv.Image, 'b': rv.Image, 'file_name': rv.String})
    with pytest.raises(rv.InvalidValueError, match=r"several image columns \['a', 'b'\]"):
        rv.io.export_images(t, tmp_path / 'x')
    with pytest.raises(rv.InvalidValueError, match="'file_name' would clash"):
        rv.io.export_images(t, tmp_path / 'x', image_column='a')
    with pytest.raises(rv.InvalidValueError, match='no image column'):
        rv.io.export_images(t.select(t.file_name), tmp_path / 'x')
    with pytest.raises(rv.InvalidValueError, match="images must be 'files' or 'bytes'"):
        rv.io.export_parquet(t, tmp_path / 'x.parquet', images='inline')
    with pytest.raises(rv.InvalidValueError, match='Expected a table or a query'):
        rv.io.export_parquet('t', tmp_path / 'x.parquet')
    (tmp_path / 'y').mkdir()
    (tmp_path / 'y' / 'metadata.jsonl').write_text('')
    with pytest.raises(rv.InvalidValueError, match='exists already'):
        rv.io.export_images(t.select(t.a), tmp_path / 'y')


WITHOUT_PANDAS = """
import sys
sys.modules['pandas'] = None
sys.modules['pyarrow'] = None
import reverie as rv
rv.init({'home': sys.argv[1]})
t = rv.create_table('t', {'s': rv.String})
for call in (lambda: rv.io.export_parquet(t, sys.argv[1] + '/x.parquet'),
             lambda: t.insert(sys.argv[2])):
    try:
        call()
    except ImportError as e:
        print(e)
"""


def test_missing_optional_dependencies_say_what_to_install(tmp_path):
    (tmp_path / 'rows.csv').write_text('s\na\n')
    proc = subprocess.run(
        [sys.executable, '-c', WITHOUT_PANDAS, str(tmp_path), str(tmp_path / 'rows.csv')],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-2:] == [
        "export_parquet() needs pyarrow: pip install 'reverie[pandas]' (or pip install pyarrow).",
        "Reading a CSV file needs pandas: pip install 'reverie[pandas]' (or pip install pandas).",
    ]


def test_import_reverie_loads_neither_pandas_nor_pyarrow():
    code = 'import sys, reverie; print(sorted({"pandas", "pyarrow"} & set(sys.modules)))'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == '[]', out.stderr


def test_rows_as_plain_values(catalog):
    pd = pytest.importorskip('pandas')
    df = pd.DataFrame({'n': pd.array([1, None], dtype='Int64'), 'meta': [{'a': 1}, [2]]})
    t = rv.create_table('t', source=df)
    assert t.collect().raw_rows() == [(1, {'a': 1}), (None, [2])]
    assert json.dumps(t.get_metadata())
