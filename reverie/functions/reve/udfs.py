"""Reve ``create`` / ``edit`` / ``remix`` for computed columns: the image verbs on Reve.

Configure with ``REVE_API_KEY`` and ``REVE_API_URL`` (default ``https://api.reve.com``), or
``[reve] api_key``, ``base_url``, ``max_concurrency``, ``requests_per_minute`` in
``REVERIE_HOME/config.toml``. Reve closed its public API on 2026-08-14: point
``REVE_API_URL`` at a Reve-compatible server such as ``reverie reve-server``.

``reve.create(prompt, version=v, ...)`` is ``images.create(prompt, model='reve/<v>', ...)``
(``latest`` when no version is given) under Reve's own argument names: the same request,
checks, pool ``'reve'``, ledger and ``cellmeta`` (``provider``, ``model``, ``request_id``,
``model_version``, ``cost_usd``, ``credits``). ``aspect_ratio='auto'`` leaves the ratio to
the endpoint. ``cache=False`` asks for a fresh image even when the same request was
answered before.
"""

from __future__ import annotations

from typing import Any

from reverie import types as ts
from reverie.errors import InvalidValueError
from reverie.exprs import nodes as n
from reverie.functions.images.calls import paid_image_function
from reverie.functions.images.provider import ImageRequest, Verb
from reverie.functions.images.verbs import call_checker, request_builder
from reverie.functions.paid import PaidFunction, Params

_FIELDS = ('test_time_scaling', 'postprocessing')
_MODEL_KWARGS = frozenset({'aspect_ratio', 'version', *_FIELDS})


def _verb_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Reve's arguments as the verbs' (``model='reve/<version>'``, ``options``).

    ``model_kwargs`` (Pixeltable's name) holds the same arguments; those passed by name win.
    """
    extra = kwargs.get('model_kwargs') or {}
    unknown = sorted(set(extra) - _MODEL_KWARGS) if isinstance(extra, dict) else None
    if unknown is None or unknown:
        raise InvalidValueError(
            f'model_kwargs takes a dict with keys among {", ".join(sorted(_MODEL_KWARGS))}; '
            f'got {extra!r}.'
        )
    kwargs = {**extra, **{k: v for k, v in kwargs.items() if v is not None}}
    ratio = kwargs.get('aspect_ratio')
    return {
        'model': f'reve/{kwargs.get("version") or "latest"}',
        'aspect_ratio': None if ratio == 'auto' else ratio,
        'options': {k: kwargs[k] for k in _FIELDS if kwargs.get(k) is not None},
    }


def _build(verb: Verb) -> Any:
    build = request_builder(verb)

    async def reve_build(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ImageRequest | None:
        return await build(args, _verb_kwargs(kwargs))

    return reve_build


def _check(verb: Verb) -> Any:
    check = call_checker('reve', verb)

    def reve_check(args: tuple[n.Node, ...], kwargs: dict[str, n.Node]) -> None:
        values = {k: v.value for k, v in kwargs.items() if isinstance(v, n.Literal)}
        nodes: dict[str, n.Node] = {k: n.Literal(v, None) for k, v in _verb_kwargs(values).items()}
        check(args, nodes)

    return reve_check


_OPTIONS = {
    'aspect_ratio': ts.String,
    'version': ts.String,
    'test_time_scaling': ts.Float,
    'postprocessing': ts.Json,
    'cache': ts.Bool,
    'model_kwargs': ts.Json,
}
_POSITIONAL: dict[Verb, dict[str, ts.ColumnType]] = {
    'create': {'prompt': ts.Required[ts.String]},
    'edit': {'image': ts.Required[ts.Image], 'edit_instruction': ts.Required[ts.String]},
    'remix': {'prompt': ts.Required[ts.String], 'images': ts.Json},
}


def _function(verb: Verb) -> PaidFunction:
    return paid_image_function(
        'reve',
        _build(verb),
        name=verb,
        path=f'{__name__}.{verb}',  # stored columns find their function by this path
        params=Params(_POSITIONAL[verb], _OPTIONS),
        check_call=_check(verb),
    )


create = _function('create')
edit = _function('edit')
remix = _function('remix')
