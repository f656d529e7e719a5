"""Command-line glue for the Reve-compatible server (`reverie reve-server`).

`--backend module:Class` calls `Class()`; `--backend diffusers:<folder or Hugging Face id>`
serves a local diffusers model (`pip install 'reverie[local]'`), imported only then, so the
server never imports torch otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from reverie.reve_server.backend import Backend
from reverie.reve_server.options import ServerOptions
from reverie.reve_server.server import ReveServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server's options to `parser`."""
    add = parser.add_argument
    add('--host', default='127.0.0.1', help='interface to bind (default: %(default)s)')
    add(
        '--port',
        type=int,
        default=8765,
        help='TCP port, 0 for any free port (default: %(default)s)',
    )
    add('--latency', type=float, default=0.0, help='seconds per standard image call')
    add('--fast-latency', type=float, default=None, help='seconds per -fast call (default: half)')
    add('--max-concurrency', type=int, default=None, help='image calls in flight before 429')
    add('--retry-after', type=int, default=1, help='seconds sent in Retry-After on 429')
    add(
        '--api-key',
        action='append',
        dest='api_keys',
        metavar='KEY',
        help='accepted API key, repeatable (default: any non-empty Bearer token)',
    )
    add('--credits', type=int, default=1_000_000, help='credit budget (default: %(default)s)')
    add('--closed', action='store_true', help='answer everything with PARTNER_API_CLOSED')
    add('--fail-500-rate', type=float, default=0.0, help='probability of an injected 500')
    add('--rate-429-rate', type=float, default=0.0, help='probability of an injected 429')
    add('--stall-rate', type=float, default=0.0, help='probability of an injected stall')
    add('--stall-seconds', type=float, default=10.0, help='length of a stall (default: 10)')
    add('--seed', type=int, default=0, help='seed for injected faults')
    add(
        '--megapixels',
        type=float,
        default=None,
        help='output size in megapixels (default: 1; diffusers: the model default)',
    )
    add('--request-log', type=Path, default=None, help='append one JSON line per image request')
    add(
        '--backend',
        default=None,
        metavar='MODULE:CLASS',
        help='image backend class to use, or diffusers:<folder or Hugging Face id>',
    )


# Backends named by a prefix, found by import path so this package imports none of them.
NAMED_BACKENDS = {'diffusers': 'reverie.functions.local.backend:DiffusersBackend'}


def load_backend(spec: str, megapixels: float | None = None) -> Backend:
    """Instantiate the backend `module:Class` (no arguments) or `diffusers:<model>`."""
    prefix, _, argument = spec.partition(':')
    if prefix in NAMED_BACKENDS:
        if not argument:
            raise ValueError(
                f'Backend {spec!r} needs a model: {prefix}:<folder or Hugging Face id>, e.g. '
                f'{prefix}:black-forest-labs/FLUX.2-klein-4B.'
            )
        module_name, _, class_name = NAMED_BACKENDS[prefix].partition(':')
        factory = getattr(importlib.import_module(module_name), class_name)
        return _checked(spec, factory(argument, megapixels=megapixels))
    module_name, sep, class_name = spec.partition(':')
    if not sep or not module_name or not class_name:
        raise ValueError(
            f'Backend {spec!r} must look like module:Class, e.g. mypkg.models:MyBackend.'
        )
    return _checked(spec, getattr(importlib.import_module(module_name), class_name)())


def _checked(spec: str, backend: object) -> Backend:
    if not isinstance(backend, Backend):
        raise ValueError(
            f'Backend {spec!r} lacks create/edit/remix methods; see reverie.reve_server.Backend.'
        )
    return backend


# The ServerOptions fields taken as they are from the argument of the same name.
_PLAIN_OPTIONS = (
    'host',
    'port',
    'latency',
    'fast_latency',
    'max_concurrency',
    'retry_after',
    'credits',
    'closed',
    'fail_500_rate',
    'rate_429_rate',
    'stall_rate',
    'stall_seconds',
    'seed',
    'request_log',
)


def run(args: argparse.Namespace) -> int:
    """Start the server described by `args` and serve until Ctrl-C; return the exit status."""
    backend = None
    try:
        if args.backend:
            print(f'Loading backend {args.backend} ...', file=sys.stderr, flush=True)
            backend = load_backend(args.backend, args.megapixels)
    except Exception as exc:  # a backend is any code: report it in one line, no traceback
        print(f'reve-server: {exc}', file=sys.stderr)
        return 1
    try:
        options = ServerOptions(
            **{name: getattr(args, name) for name in _PLAIN_OPTIONS},
            api_keys=frozenset(args.api_keys) if args.api_keys else None,
            megapixels=args.megapixels if args.megapixels is not None else 1.0,
            backend=backend,
        )
        server = ReveServer(options)
    except (ValueError, ImportError, AttributeError, OSError) as exc:
        print(f'reve-server: {exc}', file=sys.stderr)
        return 1
    print(
        f'Reve-compatible server listening on {server.url} (latency {options.latency} s)',
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0
