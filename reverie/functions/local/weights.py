"""Where a local model's weights are: a folder on disk, or a Hugging Face id to download.

``model='local/<model id>'`` names either a folder written by diffusers' ``save_pretrained``
(it holds ``model_index.json``) or a Hugging Face id such as
``black-forest-labs/FLUX.2-klein-4B`` (optionally ``@<revision>``). A Hugging Face id is
downloaded into the Hugging Face cache (``HF_HOME``) on first use, with a progress bar;
offline (``HF_HUB_OFFLINE=1``, or no network) a model not in the cache is refused with a
message that says how to get it onto the machine.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from reverie.errors import InvalidValueError, ServiceError

_HF_ID = re.compile(r'^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?$')
_INDEX = 'model_index.json'  # what makes a folder a diffusers pipeline
_TRUE = ('1', 'true', 'yes', 'on')


@dataclass(frozen=True)
class Weights:
    """A pipeline folder ready to load.

    Attributes:
        model_id: the model as the user named it (after ``local/``).
        path: the folder holding ``model_index.json``.
        version: what answered: the folder, or ``<repo>@<commit>`` for a Hugging Face model.
    """

    model_id: str
    path: Path
    version: str


@dataclass(frozen=True)
class _HubModel:
    repo: str
    revision: str | None


def check(model_id: str) -> None:
    """Refuse, without loading or downloading anything, a model that cannot be found."""
    _where(model_id)


def resolve(model_id: str) -> Weights:
    """The folder of ``model_id``'s weights, downloading a Hugging Face model on first use.

    Raises:
        InvalidValueError: ``model_id`` is neither a pipeline folder nor a Hugging Face id.
        ServiceError: the model is not in the cache and cannot be downloaded (offline, no
            network, unknown or gated repository); ``stops_run`` is set, as no cell can succeed.
    """
    where = _where(model_id)
    if isinstance(where, Path):
        return Weights(model_id, where, str(where))
    path = _cached(where) or _download(model_id, where)
    # The cache keeps each snapshot in a folder named by its commit.
    return Weights(model_id, path, f'{where.repo}@{path.name}')


def _where(model_id: str) -> Path | _HubModel:
    text = model_id.strip()
    path = Path(text).expanduser()
    # A folder that exists wins over a Hugging Face id of the same spelling ('models/klein').
    if path.exists() or text.startswith(('/', '.', '~')) or '\\' in text:
        return _pipeline_folder(model_id, path)
    match = _HF_ID.match(text)
    if match is None:
        raise InvalidValueError(
            f'Local model {model_id!r} is neither a folder nor a Hugging Face id such as '
            "'black-forest-labs/FLUX.2-klein-4B'. Pass model='local/<folder>' (a pipeline "
            "saved with save_pretrained) or model='local/<org>/<name>'."
        )
    hub = _HubModel(match['repo'], match['rev'])
    if offline() and _cached(hub) is None:
        raise _refused(model_id, hub, 'HF_HUB_OFFLINE is set')
    return hub


def _pipeline_folder(model_id: str, path: Path) -> Path:
    if not path.is_dir():
        raise InvalidValueError(
            f'Local model folder {str(path)!r} does not exist. Pass the folder of a diffusers '
            'pipeline (saved with save_pretrained), or a Hugging Face id such as '
            "'black-forest-labs/FLUX.2-klein-4B'."
        )
    if not (path / _INDEX).is_file():
        raise InvalidValueError(
            f'Local model folder {str(path)!r} has no {_INDEX}, so it is not a diffusers '
            'pipeline. Point model= at the folder that holds model_index.json (for a '
            'downloaded Hugging Face model, its snapshot folder).'
        )
    return path.resolve()


def offline() -> bool:
    """Whether Hugging Face downloads are switched off (``HF_HUB_OFFLINE``)."""
    if os.environ.get('HF_HUB_OFFLINE', '').strip().lower() in _TRUE:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _cached(hub: _HubModel) -> Path | None:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        folder = snapshot_download(hub.repo, revision=hub.revision, local_files_only=True)
    except (LocalEntryNotFoundError, OSError):
        return None
    path = Path(str(folder))
    return path if (path / _INDEX).is_file() else None


def _download(model_id: str, hub: _HubModel) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if offline():
        raise _refused(model_id, hub, 'HF_HUB_OFFLINE is set')
    try:
        folder = snapshot_download(hub.repo, revision=hub.revision)  # shows a progress bar
    except GatedRepoError:
        raise ServiceError(
            f'Hugging Face model {hub.repo!r} is gated: accept its licence on its model page, '
            'then log in (hf auth login) or set HF_TOKEN, and run again.',
            status=403,
            code='MODEL_GATED',
            stops_run=True,
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise ServiceError(
            f'Hugging Face has no model {model_id!r} ({type(e).__name__}). Check the id and '
            "revision, e.g. model='local/black-forest-labs/FLUX.2-klein-4B'.",
            status=404,
            code='MODEL_NOT_FOUND',
            stops_run=True,
        ) from None
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as e:
        raise _refused(model_id, hub, f'the download failed: {_first_line(e)}') from None
    path = Path(str(folder))
    if not (path / _INDEX).is_file():
        raise ServiceError(
            f'Hugging Face model {hub.repo!r} has no {_INDEX}: it is not a diffusers pipeline '
            'and cannot run as a local image model.',
            code='NOT_A_PIPELINE',
            stops_run=True,
        )
    return path


def _refused(model_id: str, hub: _HubModel, why: str) -> ServiceError:
    rev = f' --revision {hub.revision}' if hub.revision else ''
    return ServiceError(
        f'Local model {model_id!r} is not on this machine and cannot be downloaded now ({why}). '
        f'Download it where there is network with `hf download {hub.repo}{rev}` (then copy '
        'the Hugging Face cache, HF_HOME, here), or pass '
        "model='local/<folder>' pointing at a copy of the pipeline folder.",
        code='MODEL_NOT_DOWNLOADED',
        stops_run=True,
    )


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__
