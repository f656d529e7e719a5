"""Keyword arguments typed with ``Unpack[TypedDict]`` are checked at run time too."""

from __future__ import annotations

import pytest

from reverie.errors import ServiceError


def test_a_service_error_refuses_a_misspelt_fact() -> None:
    err = ServiceError('boom', status=503, retryable=True)
    assert (err.status, err.retryable, err.code) == (503, True, None)
    with pytest.raises(TypeError, match=r"\['stauts'\]"):
        ServiceError('boom', stauts=503)  # type: ignore[call-arg]


def test_the_ui_refuses_a_misspelt_option() -> None:
    pytest.importorskip('uvicorn')
    import reverie as rv
    from reverie.ui.server import serve_in_thread

    catalog = rv.init()
    with (
        pytest.raises(TypeError, match=r"\['prot'\].*port"),
        serve_in_thread(catalog, prot=8080),  # type: ignore[call-arg]
    ):
        pass
