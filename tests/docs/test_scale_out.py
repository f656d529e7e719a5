"""docs/scale-out.md: the compose file and the Kubernetes manifest parse and run workers."""

from __future__ import annotations

from pathlib import Path

import yaml

from reverie.cli import _parser

DOCS = Path(__file__).resolve().parents[2] / 'docs'


def _worker_args(command: list[str]) -> None:
    """The command is ``reverie worker ...`` and the CLI accepts its options."""
    assert command[:2] == ['reverie', 'worker'], command
    args = _parser().parse_args(command[1:])
    assert args.command == 'worker'


def test_compose_file_runs_workers_on_postgres_and_a_bucket() -> None:
    compose = yaml.safe_load((DOCS / 'scale-out' / 'compose.yaml').read_text())
    services = compose['services']
    assert {'postgres', 'minio', 'worker'} <= set(services)
    worker = services['worker']
    _worker_args(worker['command'])
    env = worker['environment']
    assert env['REVERIE_DB_URL'].startswith('postgresql+psycopg://')
    assert env['REVERIE_MEDIA_URL'].startswith('s3://')
    assert env['AWS_ENDPOINT_URL'] == 'http://minio:9000'
    assert worker['stop_signal'] == 'SIGTERM'
    assert worker['depends_on']['postgres']['condition'] == 'service_healthy'
    assert set(compose['volumes']) == {'pgdata', 'media'}


def test_kubernetes_manifest_is_a_secret_a_configmap_and_a_deployment() -> None:
    docs = list(yaml.safe_load_all((DOCS / 'scale-out' / 'kubernetes.yaml').read_text()))
    kinds = {d['kind']: d for d in docs}
    assert set(kinds) == {'Secret', 'ConfigMap', 'Deployment'}
    secret, config, deployment = kinds['Secret'], kinds['ConfigMap'], kinds['Deployment']
    assert 'REVERIE_DB_URL' in secret['stringData']
    assert config['data']['REVERIE_MEDIA_URL'].startswith('s3://')
    spec = deployment['spec']
    assert spec['selector']['matchLabels'] == spec['template']['metadata']['labels']
    pod = spec['template']['spec']
    assert pod['terminationGracePeriodSeconds'] >= 30
    (container,) = pod['containers']
    _worker_args(container['command'])
    refs = {next(iter(r.values()))['name'] for r in container['envFrom']}
    assert refs == {secret['metadata']['name'], config['metadata']['name']}


def test_the_note_shows_both_files() -> None:
    note = (DOCS / 'scale-out.md').read_text()
    assert 'scale-out/compose.yaml' in note and 'scale-out/kubernetes.yaml' in note
