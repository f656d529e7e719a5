"""The image models reverie knows: what each does, whether it still exists, and who says so.

One row per model id (``'<provider>/<model id>'``). Providers shut models down; each row
names the provider's own page that says so and the day it was read. A shut-down id is
refused where its column is defined (``images.create(...)``, ``add_computed_column``) with
its replacement; a deprecated one warns once per process. Ids not listed here (a Reve
version, a local Hugging Face id, a model newer than this table) pass unchecked.
``reverie models`` prints the table.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

from reverie.errors import InvalidValueError

Status = Literal['active', 'deprecated', 'shut down']

OPENAI_DEPRECATIONS = 'https://developers.openai.com/api/docs/deprecations'
OPENAI_PRICING = 'https://developers.openai.com/api/docs/pricing'
OPENAI_SUNBURST = 'https://developers.openai.com/api/docs/models/gpt-image-2.6-sunburst'
GOOGLE_DEPRECATIONS = 'https://ai.google.dev/gemini-api/docs/deprecations'
GOOGLE_PRICING = 'https://ai.google.dev/gemini-api/docs/pricing'
BFL_PRICING = 'https://bfl.ai/pricing'
_ALL: tuple[Literal['create', 'edit', 'remix'], ...] = ('create', 'edit', 'remix')


@dataclass(frozen=True)
class Model:
    """One model id and what is known about it.

    Attributes:
        id: ``'<provider>/<model id>'``.
        verbs: the verbs it serves.
        limits: what it takes, in words (input images, sizes, qualities).
        price: what one image costs, in words (``prices.py`` holds the rates the budget uses).
        status: ``active``, ``deprecated`` (still answers; will stop) or ``shut down``.
        shutdown: the day it stops or stopped answering (ISO date), when the provider says.
        replacement: the id(s) the provider recommends instead.
        source: the provider's page these facts come from.
        checked: the day that page was read.
    """

    id: str
    verbs: tuple[Literal['create', 'edit', 'remix'], ...]
    limits: str
    price: str
    status: Status
    source: str
    checked: str
    shutdown: str | None = None
    replacement: tuple[str, ...] = ()


def _gone(
    model_id: str, shutdown: str | None, replacement: tuple[str, ...], source: str, checked: str
) -> Model:
    return Model(model_id, _ALL, '', '', 'shut down', source, checked, shutdown, replacement)


_GPT_26 = (
    'up to 16 input images; quality low/medium/high/xhigh/max (16 images and the xhigh/max '
    "qualities per OpenAI's launch notes as relayed by docs.comfy.org; not read on OpenAI's "
    'own page)'
)
_GPT_26_PRICE = (
    'text in $5/M, image in $8/M, image out $30/M tokens (read on the sunburst model page); '
    'tokens per xhigh/max image not published: budgeted at 2x and 4x high'
)
_GEMINI_GA_PRICE = (
    "GA price not yet on Google's pricing page when checked: budgeted at the preview's rates"
)

MODELS: tuple[Model, ...] = (
    # OpenAI
    Model(
        'openai/gpt-image-2.6-sunburst',
        _ALL,
        _GPT_26,
        _GPT_26_PRICE,
        'active',
        OPENAI_SUNBURST,
        '2026-12-07',
    ),
    Model(
        'openai/gpt-image-2.6-flare',
        _ALL,
        _GPT_26,
        _GPT_26_PRICE + "; flare's own page not read: sunburst's rates assumed",
        'active',
        OPENAI_DEPRECATIONS,
        '2026-12-07',
    ),
    Model(
        'openai/gpt-image-2',
        _ALL,
        'up to 16 input images; quality low/medium/high/auto; size up to 3840 px',
        'text in $5/M, image in $8/M, image out $30/M tokens: about $0.02 (low) to $0.22 '
        '(high) per 1 MP image',
        'active',
        OPENAI_PRICING,
        '2026-11-28',
    ),
    *(
        _gone(
            f'openai/{m}',
            '2026-12-01',
            ('openai/gpt-image-2.6-sunburst', 'openai/gpt-image-2.6-flare'),
            OPENAI_DEPRECATIONS,
            '2026-12-07',
        )
        for m in (
            'gpt-image-1.5',
            'gpt-image-1.5-2025-12-16',
            'gpt-image-1-mini',
            'chatgpt-image-latest',
        )
    ),
    *(
        # Shut down earlier; the day is not on the page as read, so none is recorded.
        _gone(f'openai/{m}', None, ('openai/gpt-image-2',), OPENAI_DEPRECATIONS, '2026-12-07')
        for m in ('gpt-image-1', 'dall-e-2', 'dall-e-3')
    ),
    # Google
    Model(
        'gemini/gemini-3.1-flash-image',
        _ALL,
        'up to 14 input images; image_size 512/1K/2K/4K; 14 ratios from 1:8 to 8:1',
        'image out $60/M tokens: about $0.067 per 1K image; ' + _GEMINI_GA_PRICE,
        'active',
        GOOGLE_DEPRECATIONS,
        '2026-12-07',
    ),
    Model(
        'gemini/gemini-3-pro-image',
        _ALL,
        'up to 14 input images; image_size 1K/2K/4K; 10 ratios',
        'image out $120/M tokens: about $0.134 per 1K/2K image; ' + _GEMINI_GA_PRICE,
        'active',
        GOOGLE_DEPRECATIONS,
        '2026-12-07',
    ),
    _gone(
        'gemini/gemini-3.1-flash-image-preview',
        '2026-06-25',
        ('gemini/gemini-3.1-flash-image',),
        GOOGLE_DEPRECATIONS,
        '2026-12-07',
    ),
    _gone(
        'gemini/gemini-3-pro-image-preview',
        '2026-06-25',
        ('gemini/gemini-3-pro-image',),
        GOOGLE_DEPRECATIONS,
        '2026-12-07',
    ),
    _gone(
        'gemini/gemini-2.5-flash-image',
        '2026-10-02',
        ('gemini/gemini-3.1-flash-image',),
        GOOGLE_DEPRECATIONS,
        '2026-12-07',
    ),
    *(
        _gone(
            f'gemini/{m}',
            None,
            ('gemini/gemini-3.1-flash-image',),
            GOOGLE_DEPRECATIONS,
            '2026-12-07',
        )
        for m in ('gemini-2.5-flash-image-preview', 'gemini-2.0-flash-preview-image-generation')
    ),
    # Black Forest Labs
    *(
        Model(
            f'bfl/{m}',
            _ALL,
            f'up to {n} input images',
            price,
            'active',
            BFL_PRICING,
            '2026-11-28',
        )
        for m, n, price in (
            ('flux-2-pro', 8, '$0.03 first MP, $0.015 each further MP and input MP'),
            ('flux-2-max', 8, '$0.07 first MP, $0.03 each further MP and input MP'),
            ('flux-2-flex', 8, '$0.05 per MP, output and input'),
            ('flux-2-klein-4b', 4, '$0.014 first MP, $0.001 each further MP and input MP'),
            ('flux-2-klein-9b', 4, '$0.015 first MP, $0.002 each further MP and input MP'),
        )
    ),
)
"""Every model reverie has facts about, newest first within each provider."""

BY_ID: dict[str, Model] = {m.id: m for m in MODELS}
_warned: set[str] = set()


def check_model(model: str, table: dict[str, Model] | None = None) -> None:
    """Refuse a shut-down ``model`` (naming its replacement); warn once about a deprecated one.

    ``model`` is ``'<provider>/<model id>'``; ids the table does not list pass.
    """
    entry = (BY_ID if table is None else table).get(model)
    if entry is None or entry.status == 'active':
        return
    when = f' on {entry.shutdown}' if entry.shutdown else ''
    instead = ' or '.join(repr(r) for r in entry.replacement)
    use = f' Use model={instead}.' if instead else ''
    said = f'(source: {entry.source}, checked {entry.checked})'
    if entry.status == 'shut down':
        raise InvalidValueError(f'Model {model!r} was shut down{when} {said}.{use}')
    if model not in _warned:
        _warned.add(model)
        warnings.warn(
            f'Model {model!r} is deprecated and stops answering{when} {said}.{use}',
            FutureWarning,
            stacklevel=3,
        )


def rows() -> list[dict[str, str]]:
    """The table as rows of text, for ``reverie models``."""
    return [
        {
            'model': m.id,
            'status': m.status + (f' {m.shutdown}' if m.shutdown else ''),
            'instead': ', '.join(m.replacement),
            'verbs': '/'.join(m.verbs) if m.status != 'shut down' else '',
            'limits': m.limits,
            'price': m.price,
            'source': f'{m.source} ({m.checked})',
        }
        for m in MODELS
    ]
