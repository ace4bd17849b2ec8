"""Consistency of a config's ``sniper`` block with the components that own the values."""
from __future__ import annotations

from typing import List, Tuple

from mmengine.config import Config

# (key in cfg.sniper, path of its owner in the config)
_OWNERS = (
    ('scales', 'train_dataloader.dataset.scales'),
    ('train_ranges', 'train_dataloader.dataset.train_ranges'),
    ('chip_size', 'train_dataloader.dataset.chip_size'),
    ('stride', 'train_dataloader.dataset.stride'),
    ('neg_chips_per_img', 'train_dataloader.dataset.neg_chips_per_img'),
    ('proposals', 'train_dataloader.dataset.negatives.proposals'),
    ('neg_min_proposals', 'train_dataloader.dataset.negatives.min_proposals'),
    ('test_ranges', 'tta_model.test_ranges'),
)


def _get(cfg: Config, path: str):
    node = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for part in path.split('.'):
        if not isinstance(node, dict) or part not in node:
            return KeyError
        node = node[part]
    return node


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return v


def _pyramid_scales(cfg: Config):
    """Scales of the ``PyramidResize`` views of ``tta_pipeline`` in level order, or KeyError."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'PyramidResize':
                found[int(node.get('level', len(found)))] = node.get('scale')
            for v in node.values():
                walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)

    walk(_get(cfg, 'tta_pipeline'))
    return [found[k] for k in sorted(found)] if found else KeyError


def sniper_settings_mismatches(cfg: Config) -> List[Tuple[str, str, object, object]]:
    """``(sniper key, owner path, sniper value, owner value)`` for every value that differs.

    mmengine evaluates a base config's variables when the base is read, so a child config
    that redefines ``sniper`` does not reach the dicts built from it. Owners a config does
    not have (no SNIPER training set, no tta_model) are not checked.
    """
    if 'sniper' not in cfg:
        return []
    out = []
    for key, path in _OWNERS:
        if key not in cfg.sniper:
            continue
        owner = _get(cfg, path)
        if owner is KeyError:
            continue
        if _norm(owner) != _norm(cfg.sniper[key]):
            out.append((key, path, cfg.sniper[key], owner))
    scales = _pyramid_scales(cfg)
    if 'test_scales' in cfg.sniper and scales is not KeyError and \
            _norm(scales) != _norm(cfg.sniper['test_scales']):
        out.append(('test_scales', 'tta_pipeline (PyramidResize scales)',
                    cfg.sniper['test_scales'], scales))
    return out


def check_sniper_settings(cfg: Config, config_path: str = 'the config') -> None:
    """Raise a ValueError naming each ``sniper.*`` key whose owner holds another value."""
    bad = sniper_settings_mismatches(cfg)
    if bad:
        lines = [f'  sniper.{k} = {v!r} but {p} = {o!r}' for k, p, v, o in bad]
        raise ValueError(
            f'{config_path}: SNIPER settings disagree (a child config changed `sniper` '
            'without the component that uses it, or the other way round):\n'
            + '\n'.join(lines) + '\nSet both to the same value (see '
            'configs/_base_/sniper_settings.py).')
