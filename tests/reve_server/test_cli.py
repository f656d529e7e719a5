"""The command line: argument parsing and a real `python -m reverie.reve_server` process."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from reverie.reve_server import DeterministicBackend
from reverie.reve_server.cli import add_arguments, load_backend, run


class TinyBackend(DeterministicBackend):
    """Loaded by name through --backend."""

    def __init__(self) -> None:
        super().__init__(megapixels=0.001)

    def create(self, prompt: str, aspect_ratio: str, version: str) -> Image.Image:
        return Image.new('RGB', (7, 7), (9, 9, 9))


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = parse()
    assert (args.host, args.port, args.latency, args.credits) == ('127.0.0.1', 8765, 0.0, 1_000_000)
    assert args.api_keys is None and args.backend is None and args.closed is False


def test_all_flags() -> None:
    args = parse(
        '--host', '0.0.0.0', '--port', '0', '--latency', '2', '--fast-latency', '1',
        '--max-concurrency', '4', '--retry-after', '3', '--api-key', 'a', '--api-key', 'b',
        '--credits', '50', '--closed', '--fail-500-rate', '0.1', '--rate-429-rate', '0.2',
        '--stall-rate', '0.3', '--stall-seconds', '4', '--seed', '5', '--megapixels', '0.5',
        '--request-log', 'log.jsonl', '--backend', 'x:Y',
    )  # fmt: skip
    assert args.api_keys == ['a', 'b']
    assert args.request_log == Path('log.jsonl')
    assert (args.max_concurrency, args.fast_latency, args.stall_rate) == (4, 1.0, 0.3)


def test_load_backend() -> None:
    assert isinstance(load_backend('tests.reve_server.test_cli:TinyBackend'), TinyBackend)
    with pytest.raises(ValueError, match='module:Class'):
        load_backend('no_colon')
    with pytest.raises(ValueError, match='lacks create/edit/remix'):
        load_backend('pathlib:PurePath')


def test_bad_options_exit_with_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse('--fail-500-rate', '3')) == 1
    assert 'fail_500_rate' in capsys.readouterr().err


def test_module_serves_until_interrupted(tmp_path: Path) -> None:
    log = tmp_path / 'log.jsonl'
    command = [
        sys.executable, '-m', 'reverie.reve_server', '--port', '0', '--megapixels', '0.01',
        '--api-key', 'papi.k', '--request-log', str(log),
        '--backend', 'tests.reve_server.test_cli:TinyBackend',
    ]  # fmt: skip
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.fullmatch(
                r'Reve-compatible server listening on '
                r'(http://127\.0\.0\.1:\d+) \(latency 0\.0 s\)\n',
                line,
            )
            assert match, line
            headers = {'Authorization': 'Bearer papi.k'}
            with httpx.Client(base_url=match.group(1), headers=headers, verify=False) as client:
                response = client.post('/v1/image/create', json={'prompt': 'cli'})
                assert response.status_code == 200
                assert response.json()['version'] == 'reve-create@20250915'
            process.send_signal(signal.SIGINT)
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert '"prompt": "cli"' in log.read_text()
