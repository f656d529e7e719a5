"""Media in an S3-compatible object store (AWS S3, MinIO, Ceph, Cloudflare R2, GCS).

Configure with ``REVERIE_MEDIA_URL=s3://bucket/prefix`` (or ``[media] url`` in
``config.toml``); where and as whom come from the standard AWS settings, read by boto3:
``AWS_ENDPOINT_URL`` (any S3-compatible server; path-style addressing then), region
``AWS_DEFAULT_REGION``, credentials ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or
``AWS_PROFILE``, ``~/.aws``, instance roles). The bucket must exist.

Objects are ``prefix/ab/<sha256>.<ext>``, the reference under the prefix: written once, by
a PUT conditional on nothing being there (``If-None-Match: *``; a store that ignores the
header gets the same bytes again), never overwritten. Files past ``MULTIPART_BYTES`` go up
in parts, one part in memory at a time. Reads go through a bounded local cache
(``store/cache.py``), so a host downloads an image once. A reuse of an object older than a
minute writes a small marker ``prefix/.reused/<ref>`` whose time ``gc`` honours (the object
itself is never rewritten to refresh its date).

Faults: throttling (503 SlowDown), 500s, resets and timeouts are retried with exponential
backoff and jitter (botocore's ``standard`` retry mode, and here for reading a body); what
still fails raises ``ObjectStoreError`` (an ``OSError``, which the paid-call layer treats as
a storage failure: the answer stays in the journal and the cell pending). A failed PUT
leaves nothing; a failed multipart upload is aborted. Messages name the operation, bucket,
key and the store's error code, never a credential.

The client is boto3: it reads every standard AWS setting (profiles, SSO, roles, endpoint
variables) itself, retries with backoff in its ``standard`` mode, and is kept by AWS. Our
calls are few and small (one HEAD and one PUT per image, from worker threads), so obstore's
async, zero-copy Rust core would save little and add a younger dependency; boto3 is imported
only when a bucket is opened (``import reverie`` does not pay for it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from reverie.errors import InvalidValueError
from reverie.store.cache import ReadCache
from reverie.store.media import _REF, SPILL_DIR, MediaStore, Stored, check_ref

MULTIPART_BYTES = 16 << 20  # larger files go up in parts of this size
REUSE_MARK_AFTER = 60.0  # seconds: a reuse of an older object is marked for gc
READ_ATTEMPTS = 5  # tries to read an object's body (botocore retries the request itself)
MAX_LINK_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned link may live
_REUSED = '.reused'
_PROBE = '.probe'
T = TypeVar('T')


class ObjectStoreError(OSError):
    """A request to the object store failed after its retries (no credential in the text)."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (the prefix without slashes around)."""
    rest = url.removeprefix('s3://')
    bucket, _, prefix = rest.partition('/')
    if not url.startswith('s3://') or not bucket or '@' in bucket or ':' in bucket:
        raise InvalidValueError(
            f'Media URL {url!r} must look like s3://bucket/prefix (no credentials in it: '
            'they come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE).'
        )
    return bucket, prefix.strip('/')


def make_client(*, timeout: float = 60.0, max_attempts: int = 8, pool: int = 32) -> Any:
    """A boto3 S3 client from the standard AWS settings (environment, profile, role)."""
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ImportError:  # pragma: no cover - the [s3] extra is missing
        raise InvalidValueError(
            "Media in an object store need boto3: pip install 'reverie[s3]'."
        ) from None
    endpoint = os.environ.get('AWS_ENDPOINT_URL_S3') or os.environ.get('AWS_ENDPOINT_URL')
    config = BotoConfig(
        retries={'mode': 'standard', 'max_attempts': max_attempts},
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        max_pool_connections=pool,
        signature_version='s3v4',  # presigned links too (SigV2 links are refused by most)
        # MinIO, Ceph and most self-hosted stores want /bucket/key, not bucket.host/key.
        s3={'addressing_style': 'path' if endpoint else 'auto'},
        request_checksum_calculation='when_required',
        response_checksum_validation='when_required',  # the cache checks each sha256
    )
    return boto3.session.Session().client('s3', config=config)


_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()


def settings_client() -> Any:
    """The process's client for the current standard AWS settings (made once per settings)."""
    env = os.environ.get
    settings = (
        env('AWS_ENDPOINT_URL_S3') or env('AWS_ENDPOINT_URL'),
        env('AWS_ACCESS_KEY_ID'),
        env('AWS_DEFAULT_REGION'),
        env('AWS_PROFILE'),
    )
    with _clients_lock:
        client = _clients.get(settings)
        if client is None:
            client = _clients[settings] = make_client()
        return client


def presign(url: str, expires: int = 3600, *, client: Any = None) -> str:
    """An https link to the object ``s3://bucket/key`` that opens for ``expires`` seconds.

    Signing is local (no request is sent, nothing is downloaded); ``client`` defaults to
    the one of the standard AWS settings.
    """
    if (
        isinstance(expires, bool)
        or not isinstance(expires, int)
        or not 0 < expires <= (MAX_LINK_SECONDS)
    ):
        raise InvalidValueError(
            f'A presigned link lives 1 to {MAX_LINK_SECONDS} seconds (7 days), got {expires!r}.'
        )
    bucket, key = parse_s3_url(url)
    if not key:
        raise InvalidValueError(f'{url!r} names a bucket, not an object: s3://bucket/key.')
    try:
        link = (client or settings_client()).generate_presigned_url(
            'get_object', Params={'Bucket': bucket, 'Key': key}, ExpiresIn=expires
        )
    except Exception as e:  # no credentials: signing needs them
        raise _error('presign', bucket, key, e) from None
    return str(link)


class S3MediaStore(MediaStore):
    """Media under ``s3://bucket/prefix``, read through a local ``ReadCache``."""

    def __init__(
        self,
        url: str,
        cache: ReadCache,
        *,
        client: Any = None,
        allow_private_urls: bool = False,
    ) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.cache = cache
        self.allow_private_urls = allow_private_urls
        self.client = client if client is not None else make_client()
        self._conditional = True  # False once the store refuses If-None-Match

    def __repr__(self) -> str:
        return f'<S3MediaStore {self.location!r} cache={str(self.cache.folder)!r}>'

    @property
    def location(self) -> str:
        return f's3://{self.bucket}/{self.prefix}' if self.prefix else f's3://{self.bucket}'

    def _key(self, name: str) -> str:
        return f'{self.prefix}/{name}' if self.prefix else name

    # -- reading ------------------------------------------------------------------------
    def local_path(self, ref: str) -> Path:
        """A cached local copy of ``ref``, downloaded (and checked) on first use."""
        check_ref(ref)
        return self.cache.get(ref) or self.cache.fill(ref, lambda f: self._download(ref, f))

    def cached_path(self, ref: str) -> Path:
        """Where the read cache keeps ``ref`` (filled by ``local_path``)."""
        return self.cache.path(check_ref(ref))

    def url(self, ref: str) -> str:
        return f's3://{self.bucket}/{self._key(check_ref(ref))}'

    def presigned_url(self, ref: str, *, expires: int = 3600) -> str:
        """An https link to ``ref`` that a browser can open for ``expires`` seconds."""
        return presign(self.url(ref), expires, client=self.client)

    def _download(self, ref: str, f: BinaryIO) -> None:
        """Write the object's bytes to ``f``; a body cut short is read again from the start."""
        key = self._key(ref)
        for attempt in range(READ_ATTEMPTS):
            f.seek(0)
            f.truncate()
            response = self._call(
                'GET', key, lambda: self.client.get_object(Bucket=self.bucket, Key=key)
            )
            try:
                body = response['Body']
                while chunk := body.read(1 << 20):
                    f.write(chunk)
                return
            except Exception as e:  # a reset or timeout while reading the body
                if attempt == READ_ATTEMPTS - 1 or not _transient(e):
                    raise _error('GET', self.bucket, key, e) from None
                _backoff(attempt)

    # -- the primitives of MediaStore -----------------------------------------------------
    def _write(self, ref: str, source: BinaryIO) -> None:
        key = self._key(ref)
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
        if size > MULTIPART_BYTES:
            self._write_parts(key, source)
            return
        self._put(key, source)

    def _put(self, key: str, source: BinaryIO) -> None:
        args: dict[str, Any] = {'Bucket': self.bucket, 'Key': key, 'Body': source}
        if self._conditional:
            args['IfNoneMatch'] = '*'
        try:
            self._call('PUT', key, lambda: self.client.put_object(**args), written_once=True)
        except _NotConditional:
            self._conditional = False
            source.seek(0)
            self._put(key, source)

    def _write_parts(self, key: str, source: BinaryIO) -> None:
        """A multipart upload, one part in memory at a time; aborted when it fails."""
        started = self._call(
            'multipart start',
            key,
            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=key),
        )
        upload_id = started['UploadId']
        try:
            parts = []
            number = 1
            while chunk := source.read(MULTIPART_BYTES):
                done = self._call(
                    'multipart part',
                    key,
                    partial(
                        self.client.upload_part,
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                    ),
                )
                parts.append({'PartNumber': number, 'ETag': done['ETag']})
                number += 1
            args: dict[str, Any] = {
                'Bucket': self.bucket,
                'Key': key,
                'UploadId': upload_id,
                'MultipartUpload': {'Parts': parts},
            }
            if self._conditional:
                args['IfNoneMatch'] = '*'
            self._call(
                'multipart complete',
                key,
                lambda: self.client.complete_multipart_upload(**args),
                written_once=True,
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def _touch(self, ref: str) -> bool:
        stored = self._head(self._key(ref))
        if stored is None:
            return False
        if time.time() - stored[0] > REUSE_MARK_AFTER:
            mark = self._key(f'{_REUSED}/{ref}')
            self._call(
                'PUT',
                mark,
                lambda: self.client.put_object(Bucket=self.bucket, Key=mark, Body=b''),
            )
        return True

    def _stat(self, ref: str) -> Stored | None:
        found = self._head(self._key(ref))
        if found is None:
            return None
        modified, size = found
        mark = self._head(self._key(f'{_REUSED}/{ref}'))
        return Stored(ref, max(modified, mark[0] if mark else 0.0), size)

    def _head(self, key: str) -> tuple[float, int] | None:
        """(last modified, size) of ``key``, or None when there is no such object."""
        try:
            head = self._call(
                'HEAD', key, lambda: self.client.head_object(Bucket=self.bucket, Key=key)
            )
        except _Missing:
            return None
        return head['LastModified'].timestamp(), int(head['ContentLength'])

    def _listing(self) -> Iterator[Stored]:
        marks: dict[str, float] = {}
        base = self._key('')
        objects = list(self._list(base))  # '.reused/' sorts before 'ab/': marks come first
        for key, modified, _ in objects:
            name = key[len(base) :]
            if name.startswith(_REUSED + '/'):
                marks[name[len(_REUSED) + 1 :]] = modified
        for key, modified, size in objects:
            ref = key[len(base) :]
            if _REF.match(ref):
                yield Stored(ref, max(modified, marks.get(ref, 0.0)), size)
        yield from self._uploads(base)  # multipart uploads never completed

    def _list(self, prefix: str) -> Iterator[tuple[str, float, int]]:
        token: str | None = None
        while True:
            args: dict[str, Any] = {'Bucket': self.bucket, 'Prefix': prefix}
            if token:
                args['ContinuationToken'] = token
            page = self._call('LIST', prefix, partial(self.client.list_objects_v2, **args))
            for item in page.get('Contents', []):
                yield item['Key'], item['LastModified'].timestamp(), int(item['Size'])
            token = page.get('NextContinuationToken')
            if not page.get('IsTruncated') or not token:
                return

    def _uploads(self, prefix: str) -> Iterator[Stored]:
        page = self._call(
            'LIST uploads',
            prefix,
            lambda: self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix),
        )
        for upload in page.get('Uploads', []):
            name = f'{upload["Key"]}\0{upload["UploadId"]}'
            yield Stored(name, upload['Initiated'].timestamp(), 0, partial=True)

    def _delete(self, stored: Stored) -> None:
        if stored.partial:
            key, _, upload_id = stored.ref.partition('\0')
            self._call(
                'multipart abort',
                key,
                lambda: self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                ),
            )
            return
        keys = [self._key(f'{_REUSED}/{stored.ref}'), self._key(stored.ref)]
        for key in keys:
            self._call(
                'DELETE', key, partial(self.client.delete_object, Bucket=self.bucket, Key=key)
            )

    def _probe(self) -> None:
        key = self._key(f'{_PROBE}/{socket.gethostname()}-{os.getpid()}-{time.time_ns()}')
        self._call(
            'PUT', key, lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=b'\0')
        )
        self._call('DELETE', key, lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    # -- the spill (answers the database would not take) ----------------------------------
    def spill(self, key: str, entry: dict[str, Any]) -> str:
        name = self._spill_key(key)
        body = json.dumps(entry).encode()
        self._call(
            'PUT', name, lambda: self.client.put_object(Bucket=self.bucket, Key=name, Body=body)
        )
        return f's3://{self.bucket}/{name}'

    def spilled(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, _, _ in sorted(self._list(self._key(SPILL_DIR + '/'))):
            if not name.endswith('.json'):
                continue
            response = self._call(
                'GET', name, partial(self.client.get_object, Bucket=self.bucket, Key=name)
            )
            yield name.rsplit('/', 1)[1].removesuffix('.json'), json.loads(response['Body'].read())

    def unspill(self, key: str) -> None:
        name = self._spill_key(key)
        self._call('DELETE', name, lambda: self.client.delete_object(Bucket=self.bucket, Key=name))

    def _spill_key(self, key: str) -> str:
        if not key.replace('-', '').replace('_', '').isalnum():
            raise InvalidValueError(f'Spill key {key!r} must be letters, digits, - or _.')
        return self._key(f'{SPILL_DIR}/{key}.json')

    # -- one request ----------------------------------------------------------------------
    def _call(
        self, operation: str, key: str, request: Callable[[], T], *, written_once: bool = False
    ) -> T:
        """``request()`` (botocore retries it); its failure as ``ObjectStoreError``.

        ``written_once``: a conditional write that finds the object there (412) or loses a
        race to an identical write (409) succeeded, as the content is the same.
        """
        try:
            return request()
        except Exception as e:
            status, code = _status(e)
            if written_once and status in (409, 412):
                return None  # type: ignore[return-value]
            if written_once and status == 501 and self._conditional:
                raise _NotConditional from None
            if status == 404 or code in ('NoSuchKey', 'NotFound', '404'):
                raise _Missing from None
            raise _error(operation, self.bucket, key, e) from None


class _Missing(Exception):
    """Internal: the object is not there."""


class _NotConditional(Exception):
    """Internal: the store does not implement conditional writes (If-None-Match)."""


def _status(e: BaseException) -> tuple[int | None, str]:
    response = getattr(e, 'response', None)
    if not isinstance(response, dict):
        return None, ''
    status = response.get('ResponseMetadata', {}).get('HTTPStatusCode')
    return status, str(response.get('Error', {}).get('Code', ''))


def _error(operation: str, bucket: str, key: str, e: BaseException) -> ObjectStoreError:
    """The failure of one request, in words with no credential in them."""
    status, code = _status(e)
    name = type(e).__name__
    if name in ('NoCredentialsError', 'PartialCredentialsError'):
        detail = (
            'no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE'
        )
    elif status is not None:
        detail = f'HTTP {status}' + (f' {code}' if code and code != str(status) else '')
    else:
        detail = name  # ConnectionClosedError, ReadTimeoutError, EndpointConnectionError...
    return ObjectStoreError(
        f'object store {operation} of s3://{bucket}/{key} failed after retries: {detail}'
    )


def _transient(e: BaseException) -> bool:
    """A failure worth another try: a reset, a timeout, a body cut short."""
    names = {c.__name__ for c in type(e).__mro__}
    return bool(
        names
        & {
            'ConnectionError',
            'ReadTimeoutError',
            'ResponseStreamingError',
            'IncompleteReadError',
            'ProtocolError',
            'IncompleteRead',
            'TimeoutError',
            'OSError',
        }
    )


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(5.0, 0.1 * 2**attempt)))
