"""The layers (README, "How it is built"): every import inside reverie points down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'reverie'

# Lowest first. A module may import its own layer and the ones before it.
LAYERS = [
    {'reverie.types', 'reverie.json_schema', 'reverie.errors', 'reverie.config'},
    {'reverie.store'},
    {'reverie.exprs'},
    {'reverie.functions'},
    {'reverie.exec'},
    {'reverie.display'},
    {'reverie.io'},  # reads sources for catalog's insert; exports whatever has collect()
    {'reverie.catalog'},
    {'reverie.api', 'reverie.demo', 'reverie.cli', 'reverie'},
]
STANDALONE = 'reverie.reve_server'  # imports nothing else of reverie but the shared contract:
# the one <img> parser and Reve's figures, which the client checks requests against too.
SHARED_WITH_SERVER = ('reverie.functions.images.refs', 'reverie.functions.reve.contract')


def _layer(module: str) -> int:
    for i, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + '.') for name in names - {'reverie'}):
            return i
    # `reverie` itself and names imported from it (`from reverie import udf`): the top.
    return len(LAYERS) - 1


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob('*.py')):
        parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
        name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
        out.append((name, path))
    return out


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != 'reverie':  # `from reverie import types`: the names below count
                names.append(node.module)
            names += [f'{node.module}.{a.name}' for a in node.names]
    return [n for n in names if n == 'reverie' or n.startswith('reverie.')]


@pytest.mark.parametrize(('module', 'path'), _modules(), ids=[m for m, _ in _modules()])
def test_imports_point_down(module: str, path: Path) -> None:
    imported = [n for n in _imports(path) if not n.startswith(module + '.')]
    if module.startswith(STANDALONE):
        assert all(n.startswith((STANDALONE, *SHARED_WITH_SERVER)) for n in imported), imported
        return
    if module in SHARED_WITH_SERVER:  # what the server shares imports errors at most
        assert all(n.startswith('reverie.errors') for n in imported), imported
    if module == 'reverie':
        return  # the package root re-exports the public names
    mine = _layer(module)
    for name in imported:
        if name.startswith(STANDALONE):
            assert mine == len(LAYERS) - 1, f'{module} imports the server: {name}'
            continue
        theirs = _layer(name)
        assert theirs <= mine, f'{module} (layer {mine}) imports {name} (layer {theirs})'
