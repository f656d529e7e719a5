from __future__ import annotations

import PIL.Image

import reverie as rv


def test_insert_query_compute(catalog):
    rv.create_dir('d')
    t = rv.create_table('d/t', {'prompt': rv.String, 'n': rv.Int, 'img': rv.Image | None})

    @rv.udf
    def shout(s: str) -> str:
        return s.upper() + '!'

    t.insert(
        [{'prompt': 'a', 'n': 1, 'img': PIL.Image.new('RGB', (8, 6))}, {'prompt': 'b', 'n': 2}]
    )
    t.add_computed_column(loud=shout(t.prompt))
    t.insert(prompt='c', n=3)
    rs = t.where(t.n >= 2).order_by(t.n).select(t.loud, t.n, t.img.width).collect()
    assert rs['loud'] == ['B!', 'C!']
    assert rs['width'] == [None, None]
    assert t.count() == 3
