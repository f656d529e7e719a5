"""String, image and UDF behaviours ported from Pixeltable 0.7's own tests (issue 22)."""

from __future__ import annotations

import PIL.Image
import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog


def test_rsplit_and_splitlines(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('s', {'s': rv.String})
    t.insert([{'s': 'a b c\nd e'}], print_stats=False)
    rs = t.select(r=t.s.rsplit(' ', 1), lines=t.s.splitlines(), keep=t.s.splitlines(True))
    row = rs.collect()[0]
    assert row == {'r': ['a b c\nd', 'e'], 'lines': ['a b c', 'd e'], 'keep': ['a b c\n', 'd e']}


def test_image_metadata_and_stored_media_errors(sqlite_catalog: Catalog) -> None:
    t = rv.create_table('img', {'img': rv.Image})
    t.insert([{'img': PIL.Image.new('RGB', (20, 10))}], print_stats=False)
    (meta,) = t.select(m=t.img.get_metadata()).collect()['m']
    assert set(meta) == {'width', 'height', 'mode', 'bits', 'format'}  # no 'palette'
    assert (meta['width'], meta['height'], meta['mode'], meta['format']) == (20, 10, 'RGB', 'PNG')
    row = t.select(e=t.img.errortype, m=t.img.errormsg).collect()[0]
    assert row == {'e': None, 'm': None}  # bad media is refused on insert


def test_batch_size_needs_batch_hints() -> None:
    with pytest.raises(rv.InvalidValueError, match='return type hint must be a Batch'):

        @rv.udf(batch_size=4)
        def f(x: rv.Batch[int]) -> int:
            return 0

    with pytest.raises(rv.InvalidValueError, match='need batch_size'):

        @rv.udf
        def g(x: rv.Batch[int]) -> rv.Batch[int]:
            return x


def test_a_default_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(rv.InvalidValueError, match="default of parameter 'n' is 'a'"):

        @rv.udf
        def f(s: str, n: int = 'a') -> str:  # type: ignore[assignment]
            return s

    @rv.udf
    def g(s: str, n: int | None = None, x: float = 1) -> str:
        return s

    assert g.name == 'g'


def test_udf_doc_is_the_functions() -> None:
    @rv.udf
    def f(s: str) -> str:
        """Shout it."""
        return s.upper()

    assert f.__doc__ == 'Shout it.'


def test_column_types_as_udf_hints() -> None:
    @rv.udf
    def f(img: rv.Image) -> rv.Array[rv.Float, (6,)]:  # type: ignore[valid-type]
        return [0.0] * 6

    assert f.return_type == rv.Array[(6,), rv.Float]
    assert isinstance(f.params[0].col_type, type(rv.Image))
