"""Run the Reve-compatible server: `python -m reverie.reve_server --help`."""

from __future__ import annotations

import argparse
import sys

from reverie.reve_server.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog='python -m reverie.reve_server', description='Run a local Reve-compatible server.'
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
