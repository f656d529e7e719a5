"""A UDF raising KeyboardInterrupt must not stop the background event loop (bug 17).

Run in a child process with a timeout: before the fix, the next call hung forever.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_CHILD = textwrap.dedent(
    """
    import sys
    import reverie as rv
    from reverie.exec.loop import run_sync

    rv.init({'db_url': sys.argv[1], 'media_dir': sys.argv[2]})

    @rv.udf
    def boom(x: int) -> int:
        raise KeyboardInterrupt

    @rv.udf
    async def aboom(x: int) -> int:
        raise KeyboardInterrupt

    @rv.udf
    def double(x: int) -> int:
        return 2 * x

    t = rv.create_table('t', {'x': rv.Int})
    t.insert(x=1)
    for fn in (boom, aboom):
        try:
            t.select(fn(t.x)).collect()
        except KeyboardInterrupt:
            print('query interrupted')
        try:
            t.add_computed_column(y=fn(t.x), on_error='ignore')
        except KeyboardInterrupt:
            print('column interrupted')
        t.drop_column('y', if_not_exists='ignore')

    async def three():
        return 3

    assert run_sync(three()) == 3
    t.add_computed_column(z=double(t.x))
    t.insert(x=5)
    print('after', sorted(t.collect()['z']))
    """
)


def test_udf_raising_keyboard_interrupt_leaves_the_loop_running(db_url, tmp_path: Path):
    script = tmp_path / 'child.py'
    script.write_text(_CHILD)
    out = subprocess.run(
        [sys.executable, str(script), db_url, str(tmp_path / 'media')],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'after [2, 10]' in out.stdout
    assert out.stdout.count('interrupted') >= 2
