"""Image properties that need no pixels (``fileurl``, ``localpath``) and presigned links:
a query over a bucket's images downloads nothing for them (GETs counted on the proxy)."""

from __future__ import annotations

import io
import random
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import PIL.Image
import pytest

import reverie as rv
from reverie.functions import net
from reverie.store.s3 import S3MediaStore
from tests.s3.servers import FaultProxy


def _images(n: int) -> list[PIL.Image.Image]:
    """The same ``n`` images on every call."""
    return [
        PIL.Image.frombytes('RGB', (20, 16), random.Random(i).randbytes(20 * 16 * 3))
        for i in range(n)
    ]


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob('*') if p.is_file() and p.suffix == '.png']


@pytest.fixture
def pics(tmp_path: Path, bucket_url: str) -> Iterator[tuple[rv.Catalog, rv.Table]]:
    """Three images in the bucket; a catalog whose read cache is empty."""
    catalog = rv.init({'db_url': f'sqlite:///{tmp_path / "db.sqlite"}', 'media_url': bucket_url})
    t = rv.create_table('pics', {'name': rv.String, 'img': rv.Image})
    t.insert([{'name': f'p{i}', 'img': img} for i, img in enumerate(_images(3))], print_stats=False)
    yield catalog, t
    catalog.close()


def test_fileurl_in_a_query_downloads_nothing(
    pics: tuple[rv.Catalog, rv.Table], bucket_url: str, proxy: FaultProxy
) -> None:
    catalog, t = pics
    assert isinstance(catalog.media, S3MediaStore)
    cache = catalog.media.cache.folder
    gets = proxy.seen['GET']
    urls = t.select(t.name, t.img.fileurl).order_by(t.name).collect()['fileurl']
    assert len(urls) == 3 and all(u.startswith(f'{bucket_url}/') for u in urls)
    both = t.select(t.img, url=t.img.fileurl).where(t.img.fileurl != None).collect()  # noqa: E711
    assert sorted(both['url']) == sorted(urls)
    upper = t.select(t.img.fileurl.upper()).collect()
    assert len(upper) == 3
    assert proxy.seen['GET'] == gets, 'a query for fileurl downloaded images'
    t.add_computed_column(url=t.img.fileurl, print_stats=False)  # a computed column too
    assert t.select(t.url).order_by(t.name).collect()['url'] == urls
    assert proxy.seen['GET'] == gets, 'computing fileurl downloaded images'
    assert _files(cache) == []

    # localpath is a file to open: the cached copy, fetched when asked (one GET per image).
    paths = t.select(t.img.localpath).collect()['localpath']
    assert all(Path(p).is_file() and Path(p).is_relative_to(cache) for p in paths)
    assert proxy.seen['GET'] == gets + 3
    # What needs the header or pixels still opens the (now cached) image.
    assert t.select(t.img.width).collect()['width'] == [20, 20, 20]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # no credentials: the link only
        return bytes(response.read())


def test_presigned_url_gives_a_link_that_opens_without_credentials(
    pics: tuple[rv.Catalog, rv.Table], proxy: FaultProxy
) -> None:
    catalog, t = pics
    gets = proxy.seen['GET']
    rs = t.select(t.name, link=net.presigned_url(t.img.fileurl, 600)).order_by(t.name).collect()
    assert proxy.seen['GET'] == gets, 'signing a link downloaded the image'
    assert _files(catalog.media.cache.folder) == []  # type: ignore[attr-defined]
    links = rs['link']
    assert all(u.startswith(proxy.url + '/') and 'X-Amz-Signature=' in u for u in links)
    assert 'X-Amz-Expires=600' in links[0]
    for i, link in enumerate(links):  # the bytes are the image's, pixels identical
        assert PIL.Image.open(io.BytesIO(_fetch(link))).tobytes() == _images(3)[i].tobytes()
    assert proxy.seen['GET'] == gets + 3

    # moto does not enforce a link's end (a real store answers 403 after it): the signed
    # query says it.
    week = t.select(link=net.presigned_url(t.img.fileurl, 604800)).limit(1).collect()['link']
    assert 'X-Amz-Expires=604800' in week[0]
    with pytest.raises(rv.Error, match='1 to 604800 seconds'):
        t.select(net.presigned_url(t.img.fileurl, 0)).collect()


def test_file_props_on_a_local_folder(tmp_path: Path) -> None:
    catalog = rv.init(
        {'db_url': f'sqlite:///{tmp_path / "db.sqlite"}', 'media_dir': str(tmp_path / 'media')}
    )
    t = rv.create_table('pics', {'img': rv.Image})
    t.insert([{'img': img} for img in _images(2)], print_stats=False)
    rs = t.select(t.img.fileurl, t.img.localpath, t.img.width, t.img.rotate(90).localpath).collect()
    for url, path in zip(rs['fileurl'], rs['localpath'], strict=True):
        assert Path(path).is_file() and Path(path).is_relative_to(tmp_path / 'media')
        assert url == Path(path).as_uri()
    assert rs['width'] == [20, 20]
    links = t.select(link=net.presigned_url(t.img.fileurl, 60)).collect()['link']
    assert links == rs['fileurl']  # a folder has no server: its file:// URL
    catalog.close()
