"""A local Reve-compatible image server (contract: docs/reve-api.md).

Start one in tests with `serve_in_thread(ServerOptions(...))`, or from the shell with
`python -m reverie.reve_server --port 8765`. Images come from a `Backend`; the default
`DeterministicBackend` draws them from a hash of the inputs.
"""

from __future__ import annotations

from reverie.reve_server.backend import Backend, DeterministicBackend
from reverie.reve_server.options import RequestRecord, ServerOptions
from reverie.reve_server.server import ReveServer, serve_in_thread

__all__ = [
    'Backend',
    'DeterministicBackend',
    'RequestRecord',
    'ReveServer',
    'ServerOptions',
    'serve_in_thread',
]
