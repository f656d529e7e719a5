"""The web app: one Starlette route per page, each a plain URL rendered by a Jinja2 template.

Pages read through the open ``Catalog`` (passed in, never the process-wide default).
Writes (a preferred-image mark, recomputing error cells) are POSTs, refused with 403
unless the app was made with ``allow_writes=True``, and each is confirmed in the page first.
"""

from __future__ import annotations

import asyncio
import datetime
import html
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from reverie import String
from reverie.catalog.calls import calls_query
from reverie.errors import Error, InvalidValueError, NotFoundError
from reverie.exec.queries import ROWID_REF
from reverie.exprs.expr import Expr
from reverie.ui import cost, grid, work
from reverie.ui.errors_view import error_groups
from reverie.ui.security import Guard
from reverie.ui.tables import Opened, is_image, open_table, table_info, tree
from reverie.ui.thumbs import MediaNotFound, Thumbnails

if TYPE_CHECKING:
    from reverie.catalog.catalog import Catalog

HERE = Path(__file__).parent
WORK_INTERVAL_S = 1.0  # how often the Work page's event stream sends a snapshot


def quote(spec: str) -> str:
    """A table spec (``dir/t`` or ``dir/t:3``) as it goes into a URL path."""
    return urllib.parse.quote(spec, safe='/:')


def url(base: str, spec: str | None = None, **params: Any) -> str:
    """``/base/spec?params`` (empty params left out; a list repeats its key)."""
    out = base if spec is None else f'{base}/{quote(spec)}'
    items = [
        (k, str(x))
        for k, v in params.items()
        for x in (v if isinstance(v, list | tuple) else [v])
        if x not in ('', None)
    ]
    return out + ('?' + urllib.parse.urlencode(items) if items else '')


class UiState:
    """What every request needs: the catalog, the thumbnail cache, the write switch."""

    def __init__(self, catalog: Catalog, *, allow_writes: bool, cache_dir: Path) -> None:
        self.catalog = catalog
        self.allow_writes = allow_writes
        self.thumbs = Thumbnails(catalog.media, cache_dir / 'thumbs')


def create_app(
    catalog: Catalog,
    *,
    allow_writes: bool = False,
    token: str | None = None,
    cache_dir: Path | None = None,
) -> Guard:
    """The ASGI app over ``catalog`` (``token``: required on every request when given)."""
    state = UiState(
        catalog,
        allow_writes=allow_writes,
        cache_dir=cache_dir if cache_dir is not None else Path(catalog.config.home) / 'ui-cache',
    )
    templates = Jinja2Templates(directory=str(HERE / 'templates'))
    templates.env.globals.update(url=url, quote=quote, allow_writes=allow_writes)
    templates.env.filters['num'] = cost.number
    templates.env.filters['utc'] = _utc
    pages = _Pages(state, templates)
    routes = [
        Route('/', pages.home),
        Route('/t/{spec:path}', pages.table),
        Route('/grid/{spec:path}', pages.grid),
        Route('/cell/{spec:path}', pages.cell),
        Route('/compare/{spec:path}', pages.compare),
        Route('/mark/{spec:path}', pages.mark, methods=['POST']),
        Route('/errors/{spec:path}', pages.errors),
        Route('/estimate/{spec:path}', pages.estimate),
        Route('/recompute/{spec:path}', pages.recompute, methods=['POST']),
        Route('/history/{spec:path}', pages.history),
        Route('/cost', pages.cost),
        Route('/work', pages.work),
        Route('/work/events', pages.work_events),
        Route('/thumb/{ref:path}', pages.thumb),
        Route('/media/{ref:path}', pages.media),
        Mount('/static', StaticFiles(directory=str(HERE / 'static')), name='static'),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            Error: pages.error_page,
            MediaNotFound: pages.error_page,
            HTTPException: pages.error_page,
        },
    )
    app.state.ui = state
    return Guard(app, token=token)


class _Pages:
    """The route handlers (sync ones run in Starlette's thread pool)."""

    def __init__(self, state: UiState, templates: Jinja2Templates) -> None:
        self.s = state
        self.templates = templates

    def render(self, request: Request, name: str, code: int = 200, **ctx: Any) -> Response:
        return self.templates.TemplateResponse(request, name, ctx, status_code=code)

    def open(self, request: Request) -> Opened:
        return open_table(self.s.catalog, request.path_params['spec'])

    def need_writes(self, opened: Opened | None = None) -> None:
        if not self.s.allow_writes:
            raise HTTPException(
                403,
                'This UI is read-only: start it with `reverie ui --allow-writes` to change data.',
            )
        if opened is not None and opened.read_only:
            raise HTTPException(403, f'{opened.spec} is read-only (a past version or a snapshot).')

    async def error_page(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            status, text = exc.status_code, str(exc.detail)
        elif isinstance(exc, NotFoundError | MediaNotFound):
            status, text = 404, str(exc) if isinstance(exc, NotFoundError) else 'No such image.'
        elif isinstance(exc, InvalidValueError):
            status, text = 400, str(exc)
        else:
            status, text = 500, str(exc)
        if request.url.path.startswith(('/thumb/', '/media/', '/work/events')) or (
            request.headers.get('hx-request')
        ):
            return Response(text, status_code=status, media_type='text/plain')
        return self.render(request, 'error.html', status, status=status, message=text)

    # -- pages ------------------------------------------------------------------------
    def home(self, request: Request) -> Response:
        catalog = self.s.catalog
        infos = {p: table_info(catalog, open_table(catalog, p)) for p in catalog.list_tables('')}
        return self.render(request, 'home.html', root=tree(catalog), infos=infos)

    def table(self, request: Request) -> Response:
        opened = self.open(request)
        info = table_info(self.s.catalog, opened)
        versions = opened.table.get_versions(10)
        return self.render(request, 'table.html', o=opened, info=info, versions=versions)

    def grid(self, request: Request) -> Response:
        opened = self.open(request)
        params = grid.GridParams.parse(request.query_params)
        result = grid.page(self.s.catalog, opened.schema, params)
        ctx: dict[str, Any] = dict(
            o=opened,
            params=params,
            page=result,
            next_url=None
            if result.next_after is None
            else url('/grid', opened.spec, **params.query(after=result.next_after)),
            computed=[c.name for c in opened.schema.columns if c.is_computed],
            scalars=grid.scalar_columns(opened.schema),
        )
        if request.query_params.get('frag'):
            return self.render(request, '_cards.html', **ctx)
        return self.render(request, 'grid.html', **ctx)

    def cell(self, request: Request) -> Response:
        opened = self.open(request)
        rowid = _int(request.query_params.get('row'), 'row')
        name = request.query_params.get('col', '')
        col = opened.schema.require(name)
        row = grid.row(self.s.catalog, opened.schema, rowid)
        if row is None:
            raise NotFoundError(f'{opened.spec} has no row {rowid}.')
        cell = grid.cell_of(col, row)
        meta = row.get(col.sql.cellmeta) if col.is_computed else None
        if isinstance(meta, str):
            meta = json.loads(meta)
        others = [grid.cell_of(c, row) for c in opened.schema.columns if c.name != name]
        calls = _cell_calls(self.s.catalog, opened, col.id, rowid)
        expr = opened.table.get_metadata()['columns'][name]['computed_with']
        # The version a paid call computed this cell for (the ledger records it); a row's
        # ``_v`` is the version that last wrote the row, which computing a new column does not
        # change.
        made_for = next(
            (c['table_version'] for c in reversed(calls) if c['table_version'] is not None),
            None,
        )
        ctx = dict(
            o=opened,
            rowid=rowid,
            col=name,
            cell=cell,
            meta=meta or {},
            others=others,
            calls=calls,
            expr=expr,
            version=row.get('_v'),
            made_for=made_for,
        )
        if request.query_params.get('frag'):
            return self.render(request, '_cell.html', **ctx)
        return self.render(request, 'cell.html', **ctx)

    def compare(self, request: Request) -> Response:
        opened = self.open(request)
        schema = opened.schema
        images = [c.name for c in schema.columns if is_image(c)]
        cols = [c for c in request.query_params.getlist('cols') if c] or images[:2]
        for c in cols:
            if c not in images:
                raise InvalidValueError(f'{c!r} is not an image column of {opened.spec}.')
        params = grid.GridParams.parse(request.query_params)
        row_text = request.query_params.get('row')
        rowid = (
            _int(row_text, 'row') if row_text else grid.first_row(self.s.catalog, schema, params)
        )
        mark_col = request.query_params.get('mark', 'preferred')
        ctx: dict[str, Any] = dict(
            o=opened, images=images, cols=cols, mark_col=mark_col, rowid=rowid, params=params
        )
        if rowid is not None:
            row = grid.row(self.s.catalog, schema, rowid)
            if row is None:
                raise NotFoundError(f'{opened.spec} has no row {rowid}.')
            prev, nxt = grid.neighbours(self.s.catalog, schema, rowid, params)
            marked = schema.column(mark_col)
            base = dict(cols=cols, mark=mark_col, **params.query())
            ctx.update(
                cells=[grid.cell_of(schema.require(c), row) for c in cols],
                texts=[
                    grid.cell_of(c, row)
                    for c in schema.columns
                    if c.name not in images and c.name != mark_col
                ],
                marked=None if marked is None else row.get(marked.sql.value),
                prev_url=None if prev is None else url('/compare', opened.spec, row=prev, **base),
                next_url=None if nxt is None else url('/compare', opened.spec, row=nxt, **base),
            )
        return self.render(request, 'compare.html', **ctx)

    async def _confirmed_write(
        self,
        request: Request,
        unconfirmed: str,
        write: Callable[[Opened, dict[str, Any]], Response],
    ) -> Response:
        """``write(opened, form)`` in a worker thread, once writes are allowed and confirmed.

        A form without ``confirm=yes`` gets 400 with the message ``unconfirmed``.
        """
        form = await _form(request)

        def run() -> Response:
            opened = self.open(request)
            self.need_writes(opened)
            if form.get('confirm') != 'yes':
                raise HTTPException(400, unconfirmed)
            return write(opened, form)

        return await anyio.to_thread.run_sync(run)

    async def mark(self, request: Request) -> Response:
        unconfirmed = 'A mark is written only once it is confirmed.'
        return await self._confirmed_write(request, unconfirmed, self._mark)

    def _mark(self, opened: Opened, form: dict[str, Any]) -> Response:
        rowid = _int(form.get('row'), 'row')
        column = str(form.get('column', ''))
        value = str(form.get('value', ''))
        if value not in [c.name for c in opened.schema.columns]:
            raise InvalidValueError(f'{value!r} is not a column of {opened.spec}.')
        existing = opened.schema.column(column)
        if existing is None:
            opened.table.add_columns({column: String.copy(nullable=True)})
        elif existing.is_computed or not isinstance(existing.col_type, type(String)):
            raise InvalidValueError(
                f'Column {column!r} is not a plain String column; name another one for marks.'
            )
        opened.table.update({column: value}, where=Expr(ROWID_REF) == rowid)
        return HTMLResponse(
            f'<span class="ok" id="mark-result">Marked {_esc(value)} in column '
            f'{_esc(column)} of row {rowid}.</span>'
        )

    def errors(self, request: Request) -> Response:
        opened = self.open(request)
        groups = error_groups(self.s.catalog, opened.schema)
        return self.render(request, 'errors.html', o=opened, groups=groups)

    def estimate(self, request: Request) -> Response:
        """The confirmation of a recompute: what it would cost (a dry run sends nothing)."""
        opened = self.open(request)
        q = request.query_params
        col, where = self._error_cells(opened, q)
        est = opened.table.recompute_columns(col, errors_only=True, where=where, dry_run=True)
        return self.render(
            request,
            '_estimate.html',
            o=opened,
            col=col,
            errortype=q.get('errortype'),
            errormsg=q.get('errormsg'),
            estimate=est,
            target=q.get('target', ''),
        )

    async def recompute(self, request: Request) -> Response:
        unconfirmed = 'A recompute runs only once it is confirmed.'
        return await self._confirmed_write(request, unconfirmed, self._recompute)

    def _recompute(self, opened: Opened, form: dict[str, Any]) -> Response:
        col, where = self._error_cells(opened, form)
        status = opened.table.recompute_columns(
            col, errors_only=True, where=where, print_stats=False
        )
        return HTMLResponse(f'<p class="ok">Recomputed: {_esc(repr(status))}</p>')

    def _error_cells(self, opened: Opened, q: Any) -> tuple[str, Expr | None]:
        col = str(q.get('col', ''))
        column = opened.schema.require(col)
        if not column.computes:
            raise InvalidValueError(f'Column {col!r} is not computed here; nothing to recompute.')
        where = None
        if q.get('errormsg') is not None:
            e = opened.table[col]
            where = (e.errortype == q.get('errortype', '')) & (e.errormsg == q.get('errormsg'))
        return col, where

    def history(self, request: Request) -> Response:
        opened = self.open(request)
        versions = opened.table.get_versions()
        return self.render(request, 'history.html', o=opened, versions=versions)

    def cost(self, request: Request) -> Response:
        spec = request.query_params.get('t')
        opened = open_table(self.s.catalog, spec) if spec else None
        report = cost.cost_report(
            self.s.catalog, None if opened is None else self.s.catalog.table_id(opened.path)
        )
        charts = {
            'credits': cost.bar_chart(report.days, lambda s: s.credits, 'credits'),
            'USD': cost.bar_chart(report.days, lambda s: s.usd, 'USD')
            if report.total.usd_calls
            else '',
        }
        return self.render(
            request,
            'cost.html',
            report=report,
            charts=charts,
            outcomes=cost.OUTCOMES,
            o=opened,
            tables=self.s.catalog.list_tables(''),
        )

    def work(self, request: Request) -> Response:
        snap = work.snapshot(self.s.catalog)
        return self.render(request, 'work.html', snap=snap)

    async def work_events(self, request: Request) -> Response:
        """Server-sent events: the work table, rendered again every WORK_INTERVAL_S."""
        template = self.templates.get_template('_work.html')

        async def stream() -> Any:
            previous = None
            while not await request.is_disconnected():
                snap = await anyio.to_thread.run_sync(work.snapshot, self.s.catalog, previous)
                previous = snap
                body = template.render(snap=snap, url=url)
                data = '\n'.join(f'data: {line}' for line in body.splitlines())
                yield f'event: work\n{data}\n\n'
                await asyncio.sleep(WORK_INTERVAL_S)

        return StreamingResponse(
            stream(),
            media_type='text/event-stream',
            headers={'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no'},
        )

    # -- images -----------------------------------------------------------------------
    def thumb(self, request: Request) -> Response:
        size = _int(request.query_params.get('w', '256'), 'w')
        path = self.s.thumbs.get(request.path_params['ref'], size)
        return FileResponse(
            path,
            media_type='image/webp',
            headers={'Cache-Control': 'private, max-age=31536000, immutable'},
        )

    def media(self, request: Request) -> Response:
        data, content_type = self.s.thumbs.full(request.path_params['ref'])
        return Response(
            data,
            media_type=content_type,
            headers={'Cache-Control': 'private, max-age=31536000, immutable'},
        )


def _cell_calls(
    catalog: Catalog, opened: Opened, column_id: int, rowid: int
) -> list[dict[str, Any]]:
    """The ledger's calls for one cell, oldest first."""
    query = calls_query(catalog, catalog.table_id(opened.path)).where(
        lambda r: r['column_id'] == column_id and r['row_id'] == rowid
    )
    return list(query.collect())


async def _form(request: Request) -> dict[str, str]:
    """An url-encoded form body (what the pages send; no multipart parser needed)."""
    kind = request.headers.get('content-type', '').partition(';')[0].strip()
    if kind != 'application/x-www-form-urlencoded':
        raise HTTPException(415, "Send the form url-encoded, as the UI's pages do.")
    body = (await request.body()).decode('utf-8', 'replace')
    return {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}


def _utc(when: float | datetime.datetime | None) -> str:
    if when is None:
        return ''
    if not isinstance(when, datetime.datetime):  # epoch seconds
        when = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return when.strftime('%Y-%m-%d %H:%M:%S')


def _int(text: Any, name: str) -> int:
    try:
        return int(str(text))
    except ValueError:
        raise InvalidValueError(f'{name}={text!r} is not a whole number.') from None


def _esc(text: str) -> str:
    return html.escape(text)
