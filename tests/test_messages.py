"""Issue 22, "Messages and screens": advice that points at things a user has."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.config import Config
from reverie.functions.images.http import require_key
from reverie.functions.images.registry import resolve_model

ROOT = Path(__file__).resolve().parent.parent


def test_a_missing_key_names_the_config_file_of_reverie_home(tmp_path, monkeypatch):
    monkeypatch.setenv('REVERIE_HOME', str(tmp_path / 'elsewhere'))
    for provider in ('openai', 'gemini', 'bfl'):
        with pytest.raises(rv.InvalidValueError) as info:
            require_key(Config.load().provider(provider), provider)
        assert str(tmp_path / 'elsewhere' / 'config.toml') in str(info.value)
        assert '~/.reverie' not in str(info.value)
    with pytest.raises(rv.InvalidValueError) as info:
        resolve_model(None, Config.load())
    assert str(tmp_path / 'elsewhere' / 'config.toml') in str(info.value)


def _tracked() -> list[Path]:
    out = subprocess.run(
        ['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / p for p in out.splitlines() if p.endswith(('.py', '.md', '.ipynb', '.toml'))]


def test_nothing_cites_a_file_a_clone_does_not_have():
    bad = re.compile(r'(?<![\w/])(DESIGN\.md|STYLE\.md|reve-api\.md)|\.\./shared/')
    found = []
    for path in _tracked():
        if path == Path(__file__).resolve():
            continue
        for n, line in enumerate(path.read_text(errors='replace').splitlines(), 1):
            for m in bad.finditer(line):
                # docs/reve-api.md ships with the clone: 'docs/reve-api.md' and a link from
                # docs/ itself are fine.
                if m.group(1) == 'reve-api.md' and (
                    line[: m.start()].endswith('docs/') or path.parent.name == 'docs'
                ):
                    continue
                found.append(f'{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}')
    assert found == []
    assert (ROOT / 'docs' / 'reve-api.md').exists()


def test_a_failed_import_never_says_the_table_was_created(sqlite_catalog, tmp_path, capsys):
    bad = tmp_path / 'bad.csv'
    bad.write_text('n,img\n1,/nowhere/missing.png\n')
    with pytest.raises(rv.Error):
        rv.create_table('films', source=str(bad), schema_overrides={'img': rv.Image})
    assert 'Created table' not in capsys.readouterr().out
    assert 'films' not in rv.list_tables()
    good = tmp_path / 'good.csv'
    good.write_text('n\n1\n2\n')
    rv.create_table('films', source=str(good))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Created table 'films'."
    assert out[1].startswith('Inserted 2 rows with 0 errors')


def test_zero_work_prints_no_rate(sqlite_catalog, capsys):
    t = rv.create_table('empty', {'n': rv.Int})
    t.insert([])
    t.add_computed_column(m=t.n + 1)
    out = capsys.readouterr().out
    assert 'Inserted 0 rows with 0 errors in' in out
    assert 'rows/s' not in out


def test_a_dry_run_is_shown_once_in_a_repl(sqlite_catalog, capsys):
    t = rv.create_table('dry', {'n': rv.Int})
    t.insert([{'n': 1}], print_stats=False)
    t.add_computed_column(m=t.n + 1, print_stats=False)
    capsys.readouterr()
    estimate = t.recompute_columns('m', dry_run=True)
    printed = capsys.readouterr().out
    assert 'nothing was changed' in printed
    # What a REPL echoes after the printed sentence: the numbers, not the sentence again.
    assert 'nothing was changed' not in repr(estimate)
    assert repr(estimate).startswith('Estimate(paid_calls=0')


def test_export_parquet_says_what_it_wrote(sqlite_catalog, tmp_path, capsys):
    pytest.importorskip('pyarrow')
    t = rv.create_table('rows', {'n': rv.Int})
    t.insert([{'n': 1}, {'n': 2}], print_stats=False)
    capsys.readouterr()
    rv.io.export_parquet(t, tmp_path / 'out.parquet')
    assert capsys.readouterr().out == f'Wrote 2 rows to {str(tmp_path / "out.parquet")!r}.\n'


def test_drop_table_force_says_which_dependents_went(sqlite_catalog, capsys):
    t = rv.create_table('base', {'n': rv.Int})
    rv.create_view('wide', t.where(t.n > 0))
    rv.create_snapshot('snap', t)
    capsys.readouterr()
    rv.drop_table('base', force=True)
    out = capsys.readouterr().out
    assert "snapshot 'snap'" in out and "view 'wide'" in out and "'base'" in out
    assert rv.list_tables() == []


def test_the_readme_shows_no_temporary_folder_of_the_machine_it_ran_on():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert re.findall(r'/tmp/\S*|/var/folders/\S*|demo_check', readme) == []


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('L', (width, height)).save(buf, format='PNG')
    return buf.getvalue()


def test_image_messages_name_what_the_user_passed(sqlite_catalog):
    from reverie.functions import reve
    from reverie.functions.images.provider import ImageRequest
    from reverie.functions.images.refs import check_refs

    # an edit's one image is its 'image' argument, not images[0]
    big = _png(9000, 8)
    with pytest.raises(rv.InvalidValueError) as info:
        reve.provider().check(ImageRequest('edit', 'latest', 'x', (big,)))
    assert str(info.value).startswith('image (9000x8') and 'images[0]' not in str(info.value)
    # one image: no "<img>0</img> to <img>0</img>"
    with pytest.raises(rv.InvalidValueError, match=r'use <img>0</img> only\.'):
        check_refs('<img>1</img>', 1)
    # bytes that are no image are described, not shown as a BytesIO object
    t = rv.create_table('pics', {'a': rv.Image})
    with pytest.raises(rv.InvalidValueError) as info:
        t.insert([{'a': b'not an image'}], print_stats=False)
    assert 'BytesIO' not in str(info.value) and "12 bytes starting b'not an image'" in str(
        info.value
    )


def test_a_literal_image_in_remix_is_a_clear_error(sqlite_catalog):
    from reverie.functions import reve

    t = rv.create_table('mix', {'prompt': rv.String, 'a': rv.Image})
    style = PIL.Image.new('RGB', (16, 16), 'red')
    for images in ([t.a, style], [style]):
        with pytest.raises(rv.InvalidValueError) as info:
            t.add_computed_column(m=reve.remix('<img>0</img> in <img>1</img>', images=images))
        message = str(info.value)
        assert 'image value (<Image 16x16 RGB>), not a column' in message
        assert 'SQL' not in message and '0x' not in message
    assert t.columns() == ['prompt', 'a']


def test_an_unreachable_postgresql_is_one_clear_error_from_python(tmp_path):
    env = {
        'PATH': '/usr/bin:/bin',
        'REVERIE_HOME': str(tmp_path / 'home'),
        'REVERIE_DB_URL': 'postgresql://me:secret@127.0.0.1:1/nowhere',
    }
    proc = subprocess.run(
        [sys.executable, '-c', 'import reverie as rv; rv.list_tables()'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('reverie.errors.DatabaseUnavailableError: Cannot use the database:')
    assert 'REVERIE_DB_URL' in last and 'secret' not in proc.stderr
    assert proc.stderr.count('  File ') <= 8  # was 43 frames through SQLAlchemy and psycopg
