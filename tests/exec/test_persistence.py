"""Computed columns survive the process: a new process inserts and computes them again."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

import reverie as rv

_MODULE = textwrap.dedent(
    """
    import reverie as rv

    @rv.udf
    def shout(s: str) -> str:
        return s.upper() + '!'
    """
)


def _env(db_url, tmp_path, **extra):
    env = {**os.environ, 'REVERIE_DB_URL': db_url, 'REVERIE_MEDIA_DIR': str(tmp_path / 'media')}
    env.update(extra)
    return env


def _run(args, env):
    proc = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _module(tmp_path, monkeypatch):
    name = f'rv_test_udfs_{uuid.uuid4().hex[:8]}'
    mods = tmp_path / 'mods'
    mods.mkdir()
    (mods / f'{name}.py').write_text(_MODULE)
    monkeypatch.syspath_prepend(str(mods))
    return name, mods, importlib.import_module(name)


def test_importable_udf_in_new_process(catalog, db_url, tmp_path, monkeypatch):
    name, mods, module = _module(tmp_path, monkeypatch)
    t = rv.create_table('t', {'w': rv.String})
    t.insert(w='old', print_stats=False)
    t.add_computed_column(loud=module.shout(t.w), print_stats=False)
    catalog.close()
    child = """
import json, reverie as rv
t = rv.get_table('t')
t.insert(w='new', print_stats=False)
print(json.dumps(t.collect()['loud']))
"""
    out = _run(['-c', child], _env(db_url, tmp_path, PYTHONPATH=str(mods)))
    assert json.loads(out) == ['OLD!', 'NEW!']
    sys.modules.pop(name, None)


_SCRIPT = """
import math
import reverie as rv

@rv.udf
def hyp(a: int, b: int) -> float:
    return math.hypot(a, b)

t = rv.create_table('tri', {'a': rv.Int, 'b': rv.Int})
t.add_computed_column(h=hyp(t.a, t.b), print_stats=False)
t.insert(a=3, b=4, print_stats=False)
"""


def test_main_script_udf_in_new_process(catalog, db_url, tmp_path):
    catalog.close()
    script = tmp_path / 'script.py'
    script.write_text(_SCRIPT)
    env = _env(db_url, tmp_path)
    _run([str(script)], env)
    child = """
import json, reverie as rv
t = rv.get_table('tri')
t.insert(a=5, b=12, print_stats=False)
rs = t.select(t.h, t.h.errormsg).collect()
print(json.dumps([rs['h'], rs['h_errormsg']]))
"""
    out = _run(['-c', child], env)
    assert json.loads(out) == [[5.0, 13.0], [None, None]]
    # And this process, which never saw the script, computes it too.
    rv.init({'db_url': db_url, 'media_dir': str(tmp_path / 'media')})
    t = rv.get_table('tri')
    t.insert(a=8, b=15, print_stats=False)
    assert t.collect()['h'] == [5.0, 13.0, 17.0]


def test_udf_that_cannot_be_loaded_gives_error_cells(catalog, db_url, tmp_path, monkeypatch):
    name, mods, module = _module(tmp_path, monkeypatch)
    t = rv.create_table('t', {'w': rv.String})
    t.add_computed_column(loud=module.shout(t.w), print_stats=False)
    t.insert(w='a', print_stats=False)
    # The module goes away: another process (or this one, reopened) cannot import it.
    (mods / f'{name}.py').unlink()
    sys.modules.pop(name)
    sys.path.remove(str(mods))
    importlib.invalidate_caches()
    rv.init({'db_url': db_url, 'media_dir': str(tmp_path / 'media')})
    t = rv.get_table('t')
    assert "column 'loud' cannot be computed" in repr(t)
    status = t.insert(w='b', on_error='ignore', print_stats=False)
    assert status.num_excs == 1
    rs = t.select(t.w, t.loud, t.loud.errortype, t.loud.errormsg).collect()
    assert rs['loud'] == ['A!', None]  # the finished cell is kept
    assert rs['loud_errortype'][1] == 'FunctionNotFound'
    msg = rs['loud_errormsg'][1]
    assert f'{name}.shout' in msg and "'loud'" in msg
    with pytest.raises(rv.ExecutionError, match=rf"column 'loud'.*{name}\.shout"):
        t.insert(w='c', print_stats=False)
    assert t.count() == 3
