"""What image calls cost, per provider and model, with where each figure comes from.

Used by each provider's ``price()`` (the range a budget reserves and a dry run reports)
and, where an answer carries usage (tokens) or a cost, to turn it into money. Prices change:
each entry names its source and the date it was checked; update both together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

CHECKED = '2026-11-28'
R = TypeVar('R')


@dataclass(frozen=True)
class TokenRates:
    """USD per million tokens (OpenAI GPT Image, Gemini image models).

    ``image_tokens`` maps an output size to the tokens one image of that size costs
    (Gemini publishes these; for GPT Image they are estimates per megapixel and quality).
    """

    text_in: float
    image_in: float
    text_out: float
    image_out: float
    image_tokens: Mapping[str, int]
    input_image_tokens: int  # tokens one input image costs (estimate)
    source: str

    def usd(
        self, *, text_in: float = 0, image_in: float = 0, text_out: float = 0, image_out: float = 0
    ) -> float:
        """Money for the given token counts."""
        total = (
            text_in * self.text_in
            + image_in * self.image_in
            + text_out * self.text_out
            + image_out * self.image_out
        )
        return round(total / 1_000_000, 9)


@dataclass(frozen=True)
class MegapixelRates:
    """USD by megapixel (FLUX.2): the first output MP, each further MP, each input MP."""

    first_mp: float
    extra_mp: float
    input_mp: float
    source: str

    def usd(self, output_mp: float, input_mps: tuple[float, ...] = ()) -> float:
        """Money for an output of ``output_mp`` megapixels from inputs of ``input_mps``."""
        out = self.first_mp + max(0.0, _ceil_mp(output_mp) - 1) * self.extra_mp
        return round(out + sum(_ceil_mp(mp) for mp in input_mps) * self.input_mp, 9)


def _ceil_mp(mp: float) -> float:
    # Providers bill whole megapixels, rounded up (with a little slack for rounding noise).
    whole = int(mp)
    return float(whole if mp - whole < 0.05 else whole + 1) if mp > 0 else 0.0


_OPENAI_SOURCE = (
    f'https://developers.openai.com/api/docs/pricing (gpt-image-2), checked {CHECKED}; '
    'output tokens per image estimated from the published size/quality calculator'
)
_GPT_IMAGE_2 = TokenRates(
    text_in=5.00,
    image_in=8.00,
    text_out=0.0,
    image_out=30.00,
    # output tokens per megapixel by quality ('auto' is billed as 'high')
    image_tokens={'low': 560, 'medium': 2000, 'high': 7100, 'auto': 7100},
    input_image_tokens=1600,
    source=_OPENAI_SOURCE,
)
_OPENAI_26_SOURCE = (
    'https://developers.openai.com/api/docs/models/gpt-image-2.6-sunburst (text in $5/M, '
    'image in $8/M, image out $30/M), checked 2026-12-07; tokens per image as gpt-image-2, '
    'xhigh/max unpublished: budgeted at 2x and 4x high'
)
_GPT_IMAGE_26 = replace(  # gpt-image-2's rates, with two more qualities
    _GPT_IMAGE_2,
    image_tokens={**_GPT_IMAGE_2.image_tokens, 'xhigh': 14_200, 'max': 28_400},
    source=_OPENAI_26_SOURCE,
)
OPENAI_NEWER = ('gpt-image-2.6-sunburst', 'gpt-image-2.6-flare')
OPENAI: dict[str, TokenRates] = {
    'gpt-image-2': _GPT_IMAGE_2,
    **dict.fromkeys(OPENAI_NEWER, _GPT_IMAGE_26),
}

_GEMINI_SOURCE = (
    f'https://ai.google.dev/gemini-api/docs/pricing (the preview ids), checked {CHECKED}; '
    'the GA ids are budgeted at the same rates'
)
GEMINI: dict[str, TokenRates] = {
    'gemini-3.1-flash-image': TokenRates(
        text_in=0.25,
        image_in=0.25,
        text_out=1.50,
        image_out=60.00,
        image_tokens={'512': 747, '1K': 1120, '2K': 1680, '4K': 2520},
        input_image_tokens=1120,
        source=_GEMINI_SOURCE,
    ),
    'gemini-3-pro-image': TokenRates(
        text_in=2.00,
        image_in=2.00,
        text_out=12.00,
        image_out=120.00,
        image_tokens={'1K': 1120, '2K': 1120, '4K': 2000},
        input_image_tokens=1120,
        source=_GEMINI_SOURCE,
    ),
}

_BFL_SOURCE = f'https://bfl.ai/pricing (1 credit = 0.01 USD), checked {CHECKED}'
BFL_USD_PER_CREDIT = 0.01
BFL: dict[str, MegapixelRates] = {
    'flux-2-pro': MegapixelRates(0.030, 0.015, 0.015, _BFL_SOURCE),
    'flux-2-max': MegapixelRates(0.070, 0.030, 0.030, _BFL_SOURCE),
    'flux-2-flex': MegapixelRates(0.050, 0.050, 0.050, _BFL_SOURCE),
    'flux-2-klein-4b': MegapixelRates(0.014, 0.001, 0.001, _BFL_SOURCE),
    'flux-2-klein-9b': MegapixelRates(0.015, 0.002, 0.002, _BFL_SOURCE),
}


def rates_for(table: Mapping[str, R], model: str) -> tuple[R, str]:
    """The rates of ``model``, or (for a model the table does not list) the dearest ones.

    The second item says which, for ``Price.source``.
    """
    if model in table:
        return table[model], ''
    dearest = max(table, key=lambda m: _dearness(table[m]))
    return table[dearest], f'no price listed for {model!r}: priced as {dearest!r}; '


def _dearness(rates: object) -> float:
    if isinstance(rates, MegapixelRates):
        return rates.first_mp + rates.extra_mp
    if isinstance(rates, TokenRates):
        return rates.image_out
    return 0.0
