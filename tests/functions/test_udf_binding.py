"""Arguments bind to the parameters they name, in queries and computed columns (bug 4)."""

from __future__ import annotations

import reverie as rv


@rv.udf
def four(a: int, b: int = 1, c: int = 3, d: int = 4) -> str:
    return f'{a},{b},{c},{d}'


def test_keyword_after_skipped_default_binds_by_name(catalog):
    """Bug 4: ``f(x, d=5, b=2)`` ran as ``f(x, 2, 5)``."""
    t = rv.create_table('t', {'x': rv.Int})
    t.insert(x=7)
    t.add_computed_column(y=four(t.x, d=5, b=2))
    t.add_computed_column(z=four(t.x, c=9))
    t.add_computed_column(w=four(t.x, d=0))
    assert t.select(t.y, t.z, t.w).collect()[0] == {'y': '7,2,3,5', 'z': '7,1,9,4', 'w': '7,1,3,0'}
    assert t.select(q=four(t.x, d=5, b=2)).collect()['q'] == ['7,2,3,5']
    t.insert(x=8)  # the stored expression, loaded again
    catalog2 = rv.init({'db_url': catalog.config.db_url, 'media_dir': str(catalog.media.root)})
    try:
        t2 = rv.get_table('t')
        t2.insert(x=9)
        assert t2.select(t2.y).collect()['y'] == ['7,2,3,5', '8,2,3,5', '9,2,3,5']
    finally:
        catalog2.close()
