"""The house drawn from the imports (``docs/design/architecture.md``): which room of
``mmsniper`` may import which, read statically from every ``import`` statement (function-level
ones included). No arrow runs back up; ``models/`` does not import ``datasets/``; the chip
engine imports nothing outside itself but NumPy and the standard library."""
from __future__ import annotations

import ast
import collections
import os
import os.path as osp
import sys

from conftest import REPO

#: room -> the rooms it may import, bottom of the house first ('' is ``mmsniper`` itself,
#: imported lazily by entry points for its registration). The same table is in
#: docs/design/architecture.md.
ALLOWED = {
    'version': set(),
    'utils': set(),
    'chips': set(),
    'annotations': set(),
    'generated': {'utils'},
    'imagefiles': {'chips', 'annotations', 'utils'},
    'advisor': {'chips', 'annotations', 'generated'},
    'engine': {'chips', 'utils'},
    'models': {'chips', 'imagefiles'},
    'datasets': {'chips', 'annotations', 'imagefiles', 'engine', 'utils', ''},
    'visualization': {'chips', 'annotations', 'advisor', 'datasets'},
    'analysis': {'chips', 'imagefiles', 'generated', 'engine', 'datasets', 'models', 'utils',
                 ''},
    'apis': {'chips', 'imagefiles', 'engine', 'datasets', 'visualization', 'analysis', 'utils',
             ''},
    '': {'version', 'datasets', 'engine', 'models', 'visualization'},
}


def _imports() -> tuple[dict, dict]:
    """``(room -> mmsniper rooms it imports, room -> other top-level modules)``."""
    pkg = osp.join(REPO, 'mmsniper')
    rooms, others = collections.defaultdict(set), collections.defaultdict(set)
    for folder, dirs, files in os.walk(pkg):
        # .mim is the copy of configs/ and tools/ that `pip install .` makes for mim
        dirs[:] = [d for d in dirs if not d.startswith(('.', '__'))]
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(folder, name)
            parts = osp.relpath(path, REPO)[:-3].split(os.sep)
            if name == '__init__.py':
                parts = parts[:-1]
            package = parts if name == '__init__.py' else parts[:-1]
            room = parts[1] if len(parts) > 1 else ''
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level:
                    base = package[:len(package) - node.level + 1]
                    targets = (['.'.join(base + [node.module])] if node.module else
                               ['.'.join(base + [a.name]) for a in node.names])
                elif isinstance(node, ast.ImportFrom):
                    targets = [node.module]
                else:
                    continue
                for target in targets:
                    top = target.split('.')
                    if top[0] != 'mmsniper':
                        others[room].add(top[0])
                    elif (top[1] if len(top) > 1 else '') != room:
                        rooms[room].add(top[1] if len(top) > 1 else '')
    return rooms, others


def test_every_import_follows_the_house():
    rooms, _ = _imports()
    assert set(rooms) <= set(ALLOWED), f'rooms missing from the house: {set(rooms) - set(ALLOWED)}'
    wrong = {room: sorted(used - ALLOWED[room]) for room, used in rooms.items()
             if used - ALLOWED[room]}
    assert not wrong, f'imports against the house (room: rooms it may not import): {wrong}'


def test_models_do_not_import_datasets_and_chips_import_nothing_outside():
    rooms, others = _imports()
    assert 'datasets' not in rooms['models']
    assert not rooms['chips']
    assert others['chips'] - set(sys.stdlib_module_names) == {'numpy'}
