"""Start a throwaway PostgreSQL cluster for the tests (initdb + pg_ctl on a free port)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def find_pg_bin() -> Path | None:
    """Directory holding initdb/pg_ctl, or None."""
    initdb = shutil.which('initdb')
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


class PgCluster:
    """A private cluster in a temp dir; ``url(db)`` gives a SQLAlchemy URL."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix='reverie-pg-'))
        self.data = self.dir / 'data'
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = 'postgres' if self.as_root else os.environ.get('USER', 'postgres')

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ['runuser', '-u', 'postgres', '--', *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.dir, 'postgres')
        self._run('initdb', '-D', str(self.data), '-A', 'trust', '-U', self.user, '--no-sync')
        opts = (
            f'-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off '
            '-c max_connections=200 -c synchronous_commit=off'
        )
        self._run(
            'pg_ctl', '-D', str(self.data), '-o', opts, '-w', '-l', str(self.dir / 'log'), 'start'
        )

    def url(self, db: str = 'postgres') -> str:
        return f'postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{db}'

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f'host=127.0.0.1 port={self.port} user={self.user} dbname=postgres', autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run('pg_ctl', '-D', str(self.data), '-m', 'immediate', 'stop')
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
