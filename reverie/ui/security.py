"""Who may talk to the UI: loopback by default, a token otherwise; writes only when allowed.

``Guard`` is plain ASGI middleware (it also guards the server-sent event stream):

- With a token (any host that is not loopback), every request must carry it: the
  ``reverie_ui`` cookie, ``Authorization: Bearer <token>``, or ``?token=`` once, which
  sets the cookie and redirects to the same URL without the token (so it does not stay in
  the address bar, the history or a Referer). Otherwise: 401.
- On loopback without a token, the ``Host`` header must name a loopback host, so that a
  web page elsewhere cannot reach the UI through DNS rebinding.
- A POST must come from the UI's own pages (its ``Origin``, when sent, is this host).

The token is compared in constant time and never written to a log (uvicorn's access log is
off; see ``server.py``).
"""

from __future__ import annotations

import http.cookies
import ipaddress
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = 'reverie_ui'
_LOOPBACK_NAMES = ('localhost', 'localhost.')


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    host = host.strip('[]')
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """Checks the token (when there is one), the Host header and the Origin of POSTs."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        headers = {k.decode('latin-1'): v.decode('latin-1') for k, v in scope['headers']}
        host = headers.get('host', '')
        if self.token is None and not is_loopback(_hostname(host)):
            await _plain(send, 400, 'This UI answers on loopback only (use 127.0.0.1).')
            return
        if self.token is not None:
            query = urllib.parse.parse_qs(scope.get('query_string', b'').decode('latin-1'))
            given = query.get('token', [''])[0]
            if given and secrets.compare_digest(given, self.token):
                await _set_cookie_and_redirect(send, scope, query, self.token)
                return
            if not self._carries_token(headers):
                await _plain(send, 401, 'This UI needs its token: open the URL it printed.')
                return
        if scope['method'] == 'POST':
            origin = headers.get('origin')
            if origin is not None and urllib.parse.urlsplit(origin).netloc != host:
                await _plain(send, 403, "Writes come from the UI's own pages only.")
                return
        await self.app(scope, receive, send)

    def _carries_token(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        auth = headers.get('authorization', '')
        if auth.startswith('Bearer ') and secrets.compare_digest(auth[7:], self.token):
            return True
        jar = http.cookies.SimpleCookie()
        try:
            jar.load(headers.get('cookie', ''))
        except http.cookies.CookieError:
            return False
        morsel = jar.get(COOKIE)
        return morsel is not None and secrets.compare_digest(morsel.value, self.token)


def _hostname(host_header: str) -> str:
    if host_header.startswith('['):
        return host_header[1:].partition(']')[0]
    return host_header.rpartition(':')[0] if ':' in host_header else host_header


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            'type': 'http.response.start',
            'status': status,
            'headers': [
                (b'content-type', b'text/plain; charset=utf-8'),
                (b'content-length', str(len(body)).encode()),
            ],
        }
    )
    await send({'type': 'http.response.body', 'body': body})


async def _set_cookie_and_redirect(
    send: Send, scope: Scope, query: dict[str, list[str]], token: str
) -> None:
    rest = {k: v for k, v in query.items() if k != 'token'}
    target = scope.get('root_path', '') + scope['path']
    if rest:
        target += '?' + urllib.parse.urlencode(rest, doseq=True)
    cookie = f'{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict'
    await send(
        {
            'type': 'http.response.start',
            'status': 303,
            'headers': [
                (b'location', urllib.parse.quote(target, safe='/?=&%:.').encode()),
                (b'set-cookie', cookie.encode()),
                (b'content-length', b'0'),
            ],
        }
    )
    await send({'type': 'http.response.body', 'body': b''})
