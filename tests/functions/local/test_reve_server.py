"""The local model behind the Reve contract: `reverie reve-server --backend diffusers:<model>`."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import PIL.Image

from reverie.cli import main
from reverie.functions.reve.client import ReveClient, ReveResult
from reverie.reve_server import ServerOptions, serve_in_thread
from reverie.reve_server.cli import load_backend
from tests.functions.local.conftest import MEGAPIXELS

ROOT = Path(__file__).parents[3]


def _size(result: ReveResult) -> tuple[int, int]:
    return PIL.Image.open(io.BytesIO(result.image)).size


def _png(size: tuple[int, int], color: str) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', size, color).save(buf, format='PNG')
    return buf.getvalue()


def test_reve_client_gets_model_images(local_env: Path):
    backend = load_backend(f'diffusers:{local_env}', megapixels=float(MEGAPIXELS))
    assert repr(backend) == f'<DiffusersBackend {str(local_env.resolve())!r}>'

    async def calls(url: str) -> list[ReveResult]:
        async with ReveClient('papi.local', url) as client:
            created = await client.create('a fox at dawn', aspect_ratio='16:9')
            edited = await client.edit(_png((64, 96), 'blue'), 'make it red')
            remixed = await client.remix(
                '<img>0</img> in <img>1</img>', [created.image, edited.image], aspect_ratio='1:1'
            )
            return [created, edited, remixed]

    with serve_in_thread(ServerOptions(backend=backend)) as server:
        created, edited, remixed = asyncio.run(calls(server.url))
    assert _size(created) == (86, 48)
    assert _size(edited) == (52, 78)  # keeps the input's 2:3 shape
    assert _size(remixed) == (64, 64)
    assert created.version.startswith('reve-create@')


def test_cli_serves_the_model(local_env: Path, tmp_path: Path):
    reverie_command = 'import sys; from reverie.cli import main; sys.exit(main(sys.argv[1:]))'
    command = [
        sys.executable, '-c', reverie_command, 'reve-server', '--port', '0',
        '--megapixels', MEGAPIXELS, '--api-key', 'papi.k', '--backend', f'diffusers:{local_env}',
    ]  # fmt: skip
    env = {**os.environ, 'REVERIE_LOCAL_DEVICE': 'cpu', 'REVERIE_LOCAL_STEPS': '1'}
    errors = tmp_path / 'stderr.txt'
    with (
        errors.open('w') as stderr,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT, env=env
        ) as process,
    ):
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.match(r'Reve-compatible server listening on (http://\S+)', line)
            assert match, line + errors.read_text()

            async def create() -> ReveResult:
                async with ReveClient('papi.k', match.group(1)) as client:
                    return await client.create('a fox', aspect_ratio='1:1')

            assert _size(asyncio.run(create())) == (64, 64)
            process.send_signal(signal.SIGINT)
            assert process.wait(20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert f'Loading backend diffusers:{local_env} ...' in errors.read_text()


def test_cli_refuses_a_missing_model_in_one_line(tmp_path: Path, capsys):
    status = main(['reve-server', '--port', '0', '--backend', f'diffusers:{tmp_path / "none"}'])
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('reve-server: Local model folder ')
    assert 'does not exist' in err[-1]


def test_server_and_cli_do_not_import_torch():
    code = (
        'import sys\n'
        'import reverie, reverie.cli, reverie.reve_server, reverie.functions.local\n'
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.stdout.strip() == '[]', out.stderr
