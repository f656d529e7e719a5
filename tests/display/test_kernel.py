"""In a Jupyter kernel, a reverie error shows the cell's line and the message, no insides."""

from __future__ import annotations

import re

import nbformat
from nbclient import NotebookClient

from reverie.display.tracebacks import PACKAGE_DIR

ANSI = re.compile(r'\x1b\[[0-9;]*m')


def test_validation_error_shows_no_internal_frames(tmp_path, monkeypatch):
    monkeypatch.setenv('REVERIE_HOME', str(tmp_path / 'home'))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import reverie as rv\nt = rv.create_table('t', {'n': rv.Int})"),
        nbformat.v4.new_code_cell("t.insert(n='two')"),
        nbformat.v4.new_code_cell('1 / 0'),  # other errors keep their usual traceback
    ]
    NotebookClient(nb, timeout=120, kernel_name='python3', allow_errors=True).execute()
    (error,) = nb.cells[1].outputs
    assert error['output_type'] == 'error' and error['ename'] == 'InvalidValueError'
    shown = ANSI.sub('', '\n'.join(error['traceback']))
    assert "t.insert(n='two')" in shown
    assert "Column 'n' (table 't', row 0) expects Int, got str 'two'" in shown
    assert PACKAGE_DIR not in shown and 'prepare_rows' not in shown
    (other,) = nb.cells[2].outputs
    assert other['ename'] == 'ZeroDivisionError'
