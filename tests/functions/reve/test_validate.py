from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reverie.errors import InvalidValueError
from reverie.functions.images.refs import check_refs as check_image_refs
from reverie.functions.images.refs import image_refs
from reverie.functions.reve import validate
from reverie.functions.reve.validate import (
    ASPECT_RATIOS,
    VERSIONS,
    build_body,
    check_aspect_ratio,
    check_image_count,
    check_image_limits,
    check_postprocessing,
    check_prompt,
    check_test_time_scaling,
    check_version,
)


def test_doctests() -> None:
    result = doctest.testmod(validate)
    assert result.attempted > 0
    assert result.failed == 0


def test_enumerations_follow_the_contract() -> None:
    assert ASPECT_RATIOS == ('16:9', '9:16', '3:2', '2:3', '4:3', '3:4', '1:1')
    assert set(VERSIONS) == {'create', 'edit', 'remix'}
    assert tuple(VERSIONS['create']) == ('latest', 'reve-create@20250915')
    assert 'reve-edit-fast@20251030' in VERSIONS['edit']
    assert 'reve-remix-fast@20251030' in VERSIONS['remix']
    assert 'latest-fast' not in VERSIONS['create']


@pytest.mark.parametrize('prompt', ['a', 'x' * 2560, 'ünïcödé 🦊'], ids=['one', 'max', 'unicode'])
def test_check_prompt_accepts(prompt: str) -> None:
    assert check_prompt(prompt) == prompt


@pytest.mark.parametrize(
    ('prompt', 'match'),
    [
        pytest.param('', 'prompt must be a non-empty string', id='empty'),
        pytest.param('  ', 'prompt must be a non-empty string', id='blank'),
        pytest.param('x' * 2561, 'prompt has 2561 characters.*at most 2560', id='too-long'),
        pytest.param(None, 'prompt must be a non-empty string, got None', id='none'),
        pytest.param(42, 'prompt must be a non-empty string, got 42', id='int'),
    ],
)
def test_check_prompt_rejects(prompt: object, match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        check_prompt(prompt)


def test_check_prompt_names_the_argument() -> None:
    with pytest.raises(InvalidValueError, match=r'^edit_instruction must be a non-empty string'):
        check_prompt('', 'edit_instruction')


@pytest.mark.parametrize('value', [None, 'auto', *ASPECT_RATIOS])
def test_check_aspect_ratio_accepts(value: str | None) -> None:
    assert check_aspect_ratio(value) == value


@pytest.mark.parametrize('value', ['5:4', '16x9', '', 1.5, 'AUTO'])
def test_check_aspect_ratio_rejects(value: object) -> None:
    with pytest.raises(
        InvalidValueError, match=r"aspect_ratio .* is not supported; use one of '16:9'"
    ):
        check_aspect_ratio(value)


@pytest.mark.parametrize(
    ('endpoint', 'value'),
    [(endpoint, value) for endpoint, values in VERSIONS.items() for value in (None, *values)],
)
def test_check_version_accepts(endpoint: str, value: str | None) -> None:
    assert check_version(endpoint, value) == value


@pytest.mark.parametrize(
    ('endpoint', 'value'),
    [
        pytest.param('create', 'latest-fast', id='create-fast'),
        pytest.param('create', 'reve-edit@20250915', id='create-other-endpoint'),
        pytest.param('edit', 'reve-remix@20250915', id='edit-other-endpoint'),
        pytest.param('remix', 'v2', id='remix-unknown'),
        pytest.param('remix', 1, id='remix-int'),
    ],
)
def test_check_version_rejects(endpoint: str, value: object) -> None:
    with pytest.raises(InvalidValueError, match=f'version .* is not available for Reve {endpoint}'):
        check_version(endpoint, value)


def test_check_version_unknown_endpoint() -> None:
    with pytest.raises(
        InvalidValueError, match="endpoint 'upscale' is unknown; use one of 'create'"
    ):
        check_version('upscale', 'latest')


@pytest.mark.parametrize('value', [None, 1, 1.0, 2.5, 15, 15.0])
def test_check_test_time_scaling_accepts(value: float | None) -> None:
    assert check_test_time_scaling(value) == value


@pytest.mark.parametrize(
    'value', [0, 0.99, 15.01, 16, True, False, '2', float('nan'), float('inf')]
)
def test_check_test_time_scaling_rejects(value: object) -> None:
    with pytest.raises(InvalidValueError, match=r'test_time_scaling .* number from 1 to 15'):
        check_test_time_scaling(value)


def test_check_postprocessing_accepts_every_documented_step() -> None:
    steps = [
        {'process': 'upscale', 'upscale_factor': 2},
        {'process': 'remove_background'},
        {'process': 'fit_image', 'max_dim': 512},
        {'process': 'fit_image', 'max_width': 1, 'max_height': 4096},
        {'process': 'effect', 'effect_name': 'vintage'},
        {'process': 'effect', 'effect_name': 'glow', 'effect_parameters': {'f1': {'u1': 0.5}}},
    ]
    checked = check_postprocessing(steps)
    assert checked == steps
    assert checked is not steps
    assert check_postprocessing(None) is None
    assert check_postprocessing([]) == []


@pytest.mark.parametrize(
    ('items', 'match'),
    [
        pytest.param('upscale', 'postprocessing must be a list of dicts', id='string'),
        pytest.param({'process': 'upscale'}, 'postprocessing must be a list', id='dict'),
        pytest.param(['upscale'], r'postprocessing\[0\] must be a dict', id='item-string'),
        pytest.param([{'process': 'blur'}], r"\[0\] has process 'blur'; use one of", id='process'),
        pytest.param([{}], 'has process None', id='no-process'),
        pytest.param(
            [{'process': 'upscale', 'upscale_factor': 5}], 'upscale_factor 2, 3, 4', id='factor-5'
        ),
        pytest.param(
            [{'process': 'upscale', 'upscale_factor': True}], 'got True', id='factor-bool'
        ),
        pytest.param([{'process': 'upscale'}], 'got None', id='factor-missing'),
        pytest.param([{'process': 'fit_image'}], "at least one of 'max_dim'", id='fit-empty'),
        pytest.param(
            [{'process': 'fit_image', 'max_dim': 4097}], 'max_dim must be an integer', id='fit-big'
        ),
        pytest.param(
            [{'process': 'fit_image', 'max_width': 0}], 'max_width must be an integer', id='fit-0'
        ),
        pytest.param([{'process': 'effect'}], 'needs effect_name', id='effect-no-name'),
        pytest.param(
            [{'process': 'effect', 'effect_name': 'x', 'effect_parameters': {'f': 1}}],
            'effect_parameters must be a dict',
            id='effect-params',
        ),
        pytest.param(
            [{'process': 'remove_background', 'strength': 2}],
            r"\(remove_background\) has unknown key\(s\) 'strength'",
            id='unknown-key',
        ),
        pytest.param(
            [{'process': 'remove_background'}, {'process': 'upscale', 'upscale_factor': 1}],
            r'postprocessing\[1\]',
            id='second-item',
        ),
    ],
)
def test_check_postprocessing_rejects(items: object, match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        check_postprocessing(items)


def test_check_postprocessing_drops_null_effect_parameters() -> None:
    items = [{'process': 'effect', 'effect_name': 'x', 'effect_parameters': None}]
    assert check_postprocessing(items) == [{'process': 'effect', 'effect_name': 'x'}]


@pytest.mark.parametrize('n', [1, 6])
def test_check_image_count_accepts(n: int) -> None:
    assert check_image_count(n) == n


@pytest.mark.parametrize('n', [0, 7])
def test_check_image_count_rejects(n: int) -> None:
    with pytest.raises(InvalidValueError, match=f'images has {n} image.*1 to 6'):
        check_image_count(n)


def test_image_refs() -> None:
    prompt = 'Place <img>1</img> into <img>0</img>, lit like <img>1</img>; ignore <img>x</img>.'
    assert image_refs(prompt) == [1, 0, 1]
    assert image_refs('no tags') == []


def test_check_image_refs_accepts_valid_tags() -> None:
    check_image_refs('Put <img>0</img> into <img>1</img>', 2)
    check_image_refs('no tags at all', 3)


@pytest.mark.parametrize(
    ('prompt', 'n', 'match'),
    [
        pytest.param(
            'Put <img>2</img> into <img>1</img>',
            2,
            r"prompt refers to '<img>2</img>' but 2 image\(s\) were given; indexes are 0-based, "
            r'so use <img>0</img> to <img>1</img>',
            id='one-past-the-end',
        ),
        pytest.param('<img>1</img>', 1, 'use <img>0</img> only', id='one-image'),
        pytest.param('<img>-1</img>', 3, "'<img>-1</img>'", id='negative'),
        pytest.param('<img>first</img>', 3, "'<img>first</img>'", id='word'),
    ],
)
def test_check_image_refs_rejects(prompt: str, n: int, match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        check_image_refs(prompt, n)


@given(n=st.integers(1, 6), data=st.data())
def test_image_refs_property(n: int, data: st.DataObject) -> None:
    refs = data.draw(st.lists(st.integers(0, 10), max_size=5))
    prompt = ' and '.join(f'<img>{i}</img>' for i in refs) or 'plain'
    assert image_refs(prompt) == refs
    if all(i < n for i in refs):
        check_image_refs(prompt, n)
    else:
        with pytest.raises(InvalidValueError, match='0-based'):
            check_image_refs(prompt, n)


def test_check_image_limits_accepts_the_maxima() -> None:
    check_image_limits([])
    check_image_limits([(8192, 4096, 40 * 1024 * 1024)])
    check_image_limits([(4096, 4096, 1), (4096, 4096, 1), (4096, 4096, 1)])


@pytest.mark.parametrize(
    ('sizes', 'match'),
    [
        pytest.param([(8193, 10, 100)], r'images\[0\] \(8193x10, 100 bytes\).*8192 px', id='wide'),
        pytest.param([(1, 1, 1), (10, 8193, 1)], r'images\[1\] .*8192 px', id='tall'),
        pytest.param([(8192, 8192, 1)], '67108864 pixels.*33554432 per image', id='pixels'),
        pytest.param([(10, 10, 40 * 1024 * 1024 + 1)], '40 MB', id='bytes'),
        pytest.param(
            [(4096, 4096, 1)] * 4, '67108864 pixels in total.*50331648', id='total-pixels'
        ),
        pytest.param([(10, 10, 30 * 1024 * 1024)] * 4, '100 MB', id='total-bytes'),
    ],
)
def test_check_image_limits_rejects(sizes: list[tuple[int, int, int]], match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        check_image_limits(sizes)


def test_build_body_create_omits_unset_and_auto() -> None:
    assert build_body('create', prompt='a fox') == {'prompt': 'a fox'}
    assert build_body(
        'create',
        prompt='a fox',
        aspect_ratio='auto',
        version=None,
        test_time_scaling=None,
        postprocessing=None,
    ) == {'prompt': 'a fox'}


def test_build_body_create_all_fields() -> None:
    body = build_body(
        'create',
        prompt='a fox',
        aspect_ratio='16:9',
        version='latest',
        test_time_scaling=2,
        postprocessing=[{'process': 'fit_image', 'max_dim': 256}],
    )
    assert body == {
        'prompt': 'a fox',
        'aspect_ratio': '16:9',
        'version': 'latest',
        'test_time_scaling': 2,
        'postprocessing': [{'process': 'fit_image', 'max_dim': 256}],
    }


def test_build_body_edit_and_remix() -> None:
    assert build_body('edit', edit_instruction='bluer', reference_image='QUJD') == {
        'edit_instruction': 'bluer',
        'reference_image': 'QUJD',
    }
    body = build_body(
        'remix', prompt='<img>1</img> in <img>0</img>', reference_images=['QQ==', 'Qg==']
    )
    assert body == {'prompt': '<img>1</img> in <img>0</img>', 'reference_images': ['QQ==', 'Qg==']}


@pytest.mark.parametrize(
    ('endpoint', 'fields', 'match'),
    [
        pytest.param('draw', {'prompt': 'x'}, "endpoint 'draw' is unknown", id='endpoint'),
        pytest.param(
            'create', {'prompt': 'x', 'width': 512}, "create does not take 'width'", id='unknown'
        ),
        pytest.param('create', {}, 'prompt must be a non-empty string', id='missing-prompt'),
        pytest.param(
            'create', {'prompt': 'x', 'aspect_ratio': '5:4'}, "aspect_ratio '5:4'", id='ratio'
        ),
        pytest.param(
            'create', {'prompt': 'x', 'version': 'latest-fast'}, "version 'latest-fast'", id='ver'
        ),
        pytest.param('edit', {'edit_instruction': 'x'}, 'reference_image must be', id='no-image'),
        pytest.param(
            'edit',
            {'edit_instruction': 'x', 'reference_image': 'data:image/png;base64,QQ=='},
            "'data:' prefix",
            id='data-prefix',
        ),
        pytest.param(
            'edit',
            {'prompt': 'x', 'reference_image': 'QQ=='},
            "edit does not take 'prompt'",
            id='edit-prompt',
        ),
        pytest.param('remix', {'prompt': 'x', 'reference_images': []}, 'images has 0', id='none'),
        pytest.param(
            'remix', {'prompt': 'x', 'reference_images': ['QQ=='] * 7}, 'images has 7', id='seven'
        ),
        pytest.param(
            'remix', {'prompt': 'x', 'reference_images': 'QQ=='}, 'must be a list', id='str-images'
        ),
        pytest.param(
            'remix',
            {'prompt': '<img>1</img>', 'reference_images': ['QQ==']},
            "'<img>1</img>' but 1 image",
            id='bad-ref',
        ),
    ],
)
def test_build_body_rejects(endpoint: str, fields: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        build_body(endpoint, **fields)
