"""The README and docs/ name only what exists: every relative link, every repository path
(``mmsniper/...``, ``configs/...``, ``tools/...``, ``tests/...``, ``docs/...``,
``requirements/...``) and every dotted ``mmsniper.x.y`` name. Outputs a command writes
(``data/...``, ``work_dirs/...`` and the files in :data:`WRITTEN`) are not checked;
neither are paths with placeholders (``<stem>``, ``*``, ``$VAR``, ``{...}``). A dotted
``mmsniper.Name`` may also be a registry-scoped type (``type='mmsniper.SoftNMSMerger'``)."""
from __future__ import annotations

import glob
import os.path as osp
import re

import pytest

from conftest import REPO

DOCS = sorted([osp.join(REPO, 'README.md')] +
              glob.glob(osp.join(REPO, 'docs', '**', '*.md'), recursive=True))
#: Written on other branches of the same change; allowed missing until they land.
PENDING: set = set()
#: Files a command in the docs writes (``advise_scales.py --out ...``).
WRITTEN = {'configs/my_sniper_settings.py'}

LINK = re.compile(r'\]\(([^)\s]+)\)')
PATH = re.compile(r'(?<![\w./:-])((?:mmsniper|configs|tools|tests|docs|requirements)/'
                  r'[\w./-]*[\w/])([<>*{}$]?)')
DOTTED = re.compile(r'(?<![\w./-])(mmsniper(?:\.\w+)+)')


def _rel(path: str) -> str:
    return osp.relpath(path, REPO)


def _exists(path: str) -> bool:
    return osp.exists(path) or _rel(path) in PENDING


def _module_file(parts: list) -> str | None:
    base = osp.join(REPO, *parts)
    for cand in (base + '.py', osp.join(base, '__init__.py')):
        if osp.isfile(cand):
            return cand
    return None


def _dotted_ok(name: str) -> bool:
    """``mmsniper.a.b`` names a module, or a module and one name defined in it."""
    parts = name.split('.')
    if _module_file(parts):
        return True
    if len(parts) == 2 and parts[1][:1].isupper():  # a registry-scoped type name
        return any(re.search(rf'^class {parts[1]}\b', open(f).read(), re.M)
                   for f in glob.glob(osp.join(REPO, 'mmsniper', '**', '*.py'), recursive=True))
    mod = _module_file(parts[:-1])
    if mod is None:
        return False
    text = open(mod).read()
    last = re.escape(parts[-1])
    return bool(re.search(rf'^\s*(def|class) {last}\b|^{last}\s*[:=]|\b{last}\b.*import|'
                          rf'import.*\b{last}\b|^\s+{last},', text, re.M))


@pytest.mark.parametrize('doc', DOCS, ids=_rel)
def test_doc_names_only_what_exists(doc):
    text = open(doc).read()
    here = osp.dirname(doc)
    missing = []
    for target in LINK.findall(text):
        if re.match(r'[a-z]+:', target) or target.startswith('#'):
            continue
        path = osp.normpath(osp.join(here, target.split('#')[0]))
        if not _exists(path):
            missing.append(f'link {target}')
    for path, placeholder in PATH.findall(text):
        if placeholder or path in WRITTEN:
            continue
        if not _exists(osp.join(REPO, path)):
            missing.append(f'path {path}')
    for name in DOTTED.findall(text):
        if not _dotted_ok(name):
            missing.append(f'name {name}')
    assert not missing, f'{_rel(doc)} names what does not exist: {sorted(set(missing))}'
