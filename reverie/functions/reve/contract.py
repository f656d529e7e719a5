"""What the Reve v1 image API accepts (docs/reve-api.md §3-§5), declared once.

The Reve provider (``reverie.functions.reve.provider``) checks requests against it before
anything is sent, and the local Reve-compatible server (``reverie.reve_server``) validates
what it receives against the same figures.
"""

from __future__ import annotations

ASPECT_RATIOS: tuple[str, ...] = ('16:9', '9:16', '3:2', '2:3', '4:3', '3:4', '1:1')
"""Values of ``aspect_ratio``; ``'auto'`` is also accepted (the endpoint's default)."""
DEFAULT_CREATE_ASPECT_RATIO = '3:2'
MAX_PROMPT_CHARS = 2560

VERSIONS: dict[str, dict[str, str]] = {
    'create': {
        'latest': 'reve-create@20250915',
        'reve-create@20250915': 'reve-create@20250915',
    },
    'edit': {
        'latest': 'reve-edit@20250915',
        'latest-fast': 'reve-edit-fast@20251030',
        'reve-edit@20250915': 'reve-edit@20250915',
        'reve-edit-fast@20251030': 'reve-edit-fast@20251030',
    },
    'remix': {
        'latest': 'reve-remix@20250915',
        'latest-fast': 'reve-remix-fast@20251030',
        'reve-remix@20250915': 'reve-remix@20250915',
        'reve-remix-fast@20251030': 'reve-remix-fast@20251030',
    },
}
"""Accepted ``version`` strings per endpoint and the dated version each resolves to."""

BASE_CREDITS: dict[str, int] = {'create': 18, 'edit': 30, 'remix': 30}
FAST_CREDITS = 5  # any ``-fast`` version; both times ``test_time_scaling``
TEST_TIME_SCALING_RANGE = (1.0, 15.0)

MIN_REMIX_IMAGES = 1
MAX_REMIX_IMAGES = 6
MAX_IMAGE_BYTES = 40 * 1024 * 1024
MAX_IMAGE_PIXELS = 33_554_432
MAX_IMAGE_SIDE = 8192
MAX_REQUEST_PIXELS = 50_331_648
MAX_REQUEST_IMAGE_BYTES = 100 * 1024 * 1024

POSTPROCESSES: tuple[str, ...] = ('upscale', 'remove_background', 'fit_image', 'effect')
UPSCALE_FACTORS: tuple[int, ...] = (2, 3, 4)
MAX_FIT_DIM = 4096
