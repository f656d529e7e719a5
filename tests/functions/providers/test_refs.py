"""The one ``<img>N</img>`` parser: its rules (hypothesis), one verdict from every entry point."""

from __future__ import annotations

import base64
import io

import PIL.Image
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reverie as rv
from reverie.functions import images, reve
from reverie.functions.images import refs
from reverie.reve_server.options import ApiError
from reverie.reve_server.validate import parse_request

# A tag as a user may write it: any case of IMG, whitespace around the index.
_case = st.sampled_from(['img', 'IMG', 'Img'])
_space = st.sampled_from(['', ' ', '  ', '\n', '\t '])
_text = st.text(alphabet=st.characters(blacklist_characters='<>'), max_size=12)


@st.composite
def prompts(draw: st.DrawFn) -> tuple[str, list[int | None]]:
    """A prompt and, for each tag in it, the index it names (None: malformed)."""
    parts, named = [draw(_text)], []
    for _ in range(draw(st.integers(0, 5))):
        case = draw(_case)
        if draw(st.booleans()):
            index: int | None = draw(st.integers(0, 9))
            inner = f'{draw(_space)}{index}{draw(_space)}'
        else:
            index = None
            inner = draw(st.sampled_from(['x', '-1', '', '1.5', 'one', '0x']))
        parts.append(f'<{case}>{inner}</{case}>{draw(_text)}')
        named.append(index)
    return ''.join(parts), named


@given(prompts(), st.integers(0, 8))
def test_parser_follows_its_rules(case: tuple[str, list[int | None]], n_images: int) -> None:
    prompt, named = case
    assert refs.image_refs(prompt) == [i for i in named if i is not None]
    refused = any(i is None or i >= n_images for i in named)
    assert (refs.bad_ref(prompt, n_images) is not None) == refused
    if refused:
        with pytest.raises(rv.InvalidValueError, match='0-based'):
            refs.check_refs(prompt, n_images)
    else:
        refs.check_refs(prompt, n_images)
        said = refs.translate_refs(prompt, lambda i: f'[{i}]')
        assert refs.image_refs(said) == [] and refs.bad_ref(said, 0) is None


@given(prompts())
def test_unclosed_tags_are_text(case: tuple[str, list[int | None]]) -> None:
    prompt, _ = case
    assert refs.image_refs(prompt + ' <img>3') == refs.image_refs(prompt)


def _png_b64() -> str:
    buf = io.BytesIO()
    PIL.Image.new('RGB', (8, 8), 'red').save(buf, format='PNG')
    return base64.b64encode(buf.getvalue()).decode()


def _verdicts(prompt: str, table: rv.Table) -> dict[str, bool]:
    """Whether each entry point accepts ``prompt`` over two images."""
    two = [table.a, table.b]
    entries = {
        'images.remix': lambda: images.remix(prompt, images=two, model='reve/latest'),
        'reve.remix': lambda: reve.remix(prompt, two),
        'images.remix openai': lambda: images.remix(prompt, images=two, model='openai/gpt-image-2'),
        'reve_server': lambda: parse_request(
            'remix', {'prompt': prompt, 'reference_images': [_png_b64()] * 2}
        ),
    }
    out = {}
    for name, entry in entries.items():
        try:
            entry()
            out[name] = True
        except (rv.InvalidValueError, ApiError):
            out[name] = False
    return out


@pytest.mark.parametrize(
    ('prompt', 'accepted'),
    [
        pytest.param('<img> 0 </img> x <img>1</img>', True, id='spaces-inside'),
        pytest.param('<IMG>5</IMG> and <img>0</img>', False, id='upper-case-out-of-range'),
        pytest.param('<IMG>1</IMG> on <img>0</img>', True, id='upper-case'),
        pytest.param('<img>x</img> and <img>0</img>', False, id='malformed'),
        pytest.param('only <img>1</img>', True, id='unused-image'),
    ],
)
def test_every_entry_point_gives_the_same_verdict(tmp_path, prompt: str, accepted: bool) -> None:
    rv.init({'home': str(tmp_path)})
    table = rv.create_table('refs', {'a': rv.Image, 'b': rv.Image}, if_exists='replace')
    verdicts = _verdicts(prompt, table)
    assert verdicts == dict.fromkeys(verdicts, accepted)
