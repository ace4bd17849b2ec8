"""The config's ``sniper`` block, written into the components that use its values.

A config holds its SNIPER values once, in ``sniper = dict(...)``; the components that use
them (``SniperDataset``, ``ChipGenerator``, the ``PyramidResize`` views of the test pyramid)
are written WITHOUT them. :func:`apply_sniper_settings` validates the block
(:meth:`mmsniper.chips.SniperSettings.from_dict`: unknown keys, bad values, values that do
not fit together) and writes each value into every component that takes it, when the
runner is built. So a child config changes a value with one edit, whichever tool reads
it: :class:`~mmsniper.engine.SniperRunner` calls this function in ``from_cfg``, and
``runner_type = 'SniperRunner'`` (``configs/_base_/sniper_settings.py``) makes
MMDetection's own ``tools/train.py`` / ``tools/test.py [--tta]`` (and ``mim``) build it.

The components and the keys they receive:

============================  ===============================================================
``SniperDataset``             scales, train_ranges, chip_size, stride, min_size, min_visible,
                              neg_chips_per_img, proposals, neg_min_proposals
``ChipGenerator``             scales, train_ranges, chip_size, stride, min_size, min_visible
                              (simple mode; with ChipSampler the tickets carry them)
``SnipResize``                scales, train_ranges, min_size, min_visible (SNIP: whole
                              images at a random level, ``docs/reports/equal_compute.md``)
``PyramidResize``             one view per ``test_scales`` entry: ``scale``, ``level`` and
                              ``test_range`` (from ``test_ranges``); a TestTimeAug stage
                              holding one ``PyramidResize`` without ``scale`` is a template
                              that becomes one view per level
============================  ===============================================================

A value given to a component explicitly must equal the ``sniper`` value (the default
when ``sniper`` leaves the key out): otherwise :func:`apply_sniper_settings` stops with
an error naming both keys.
"""
from __future__ import annotations

import copy
from typing import Any, List, Optional

from mmengine.config import Config

from ..chips import SniperSettings, normalize_ranges

#: component type -> the ``sniper`` keys it takes (under the same names).
CONSUMERS = {
    'SniperDataset': ('scales', 'train_ranges', 'chip_size', 'stride', 'min_size',
                      'min_visible', 'neg_chips_per_img', 'proposals', 'neg_min_proposals'),
    'ChipGenerator': ('scales', 'train_ranges', 'chip_size', 'stride', 'min_size',
                      'min_visible'),
    'SnipResize': ('scales', 'train_ranges', 'min_size', 'min_visible'),
}
#: Former keys that now have another single owner.
_MOVED = {
    'SniperDataset': {'negatives': 'sniper.proposals and sniper.neg_min_proposals'},
    'SniperTTAModel': {'test_ranges': 'sniper.test_ranges (PyramidResize writes each level\'s '
                                      'range into its view)'},
    'ScaleRangeFilter': {},
}


def _type_name(node: Any) -> Optional[str]:
    t = node.get('type') if isinstance(node, dict) else None
    return t.split('.')[-1] if isinstance(t, str) else None


class _Resolver:
    """One pass over a config: fills the consumers, collects the disagreements."""

    def __init__(self, settings: SniperSettings, explicit: set) -> None:
        self.st = settings
        self.explicit = explicit
        self.values = settings.as_dict()
        self.errors: List[str] = []

    def _mine(self, key: str) -> str:
        note = '' if key in self.explicit else ' (default)'
        return f'sniper.{key} = {self.values[key]!r}{note}'

    def disagree(self, path: str, value: Any, key: str) -> None:
        self.errors.append(f'  {path} = {value!r} but {self._mine(key)}')

    # -- the walk ---------------------------------------------------------------------------
    def walk(self, node: Any, path: str) -> None:
        if isinstance(node, dict):
            name = _type_name(node)
            for old, new in _MOVED.get(name, {}).items():
                if old in node:
                    self.errors.append(f'  {path}.{old}: not a key of {name} any more; set '
                                       f'{new} instead')
            if name == 'ScaleRangeFilter':
                self.errors.append(f'  {path}: ScaleRangeFilter is folded into ChipGenerator; '
                                   'remove it (min_size and min_visible are sniper keys)')
            if name in CONSUMERS:
                self.fill(node, CONSUMERS[name], path)
            for key, value in node.items():
                self.walk(value, f'{path}.{key}' if path else str(key))
        elif isinstance(node, list):
            if node and all(_type_name(x) == 'PyramidResize' for x in node):
                self.pyramid_stage(node, path)
            else:
                for i, x in enumerate(node):
                    if _type_name(x) == 'PyramidResize':
                        self.pyramid_view(x, f'{path}[{i}]')
            for i, x in enumerate(node):
                self.walk(x, f'{path}[{i}]')

    def fill(self, node: dict, keys: tuple, path: str) -> None:
        for key in keys:
            if key in node and node[key] is not None:
                try:
                    differs = self.st.differs(key, node[key], path)
                except ValueError as err:
                    self.errors.append(f'  {err}')
                    continue
                if differs:
                    self.disagree(f'{path}.{key}', node[key], key)
            node[key] = copy.deepcopy(self.values[key])

    # -- the test pyramid -------------------------------------------------------------------
    def pyramid_stage(self, stage: list, path: str) -> None:
        """A TestTimeAug stage made of PyramidResize views: a template, or every level."""
        if len(stage) == 1 and 'scale' not in stage[0]:
            template = stage[0]
            extra = [k for k in ('level', 'test_range') if k in template]
            if extra:
                self.errors.append(f'  {path}[0]: a PyramidResize template (no scale) takes '
                                   f'{extra} from sniper too; remove them')
                return
            stage[:] = [type(template)(copy.deepcopy(template), scale=copy.deepcopy(s),
                                       level=i, test_range=copy.deepcopy(r))
                        for i, (s, r) in enumerate(zip(self.values['test_scales'],
                                                       self.values['test_ranges']))]
            return
        levels = sorted(int(v.get('level', -1)) for v in stage)
        want = list(range(len(self.st.test_scales)))
        if levels != want:
            self.errors.append(f'  {path}: PyramidResize levels {levels} but '
                               f'{self._mine("test_scales")} has levels {want} (or write one '
                               'PyramidResize without scale: a template for every level)')
            return
        for i, view in enumerate(stage):
            self.pyramid_view(view, f'{path}[{i}]')

    def pyramid_view(self, view: dict, path: str) -> None:
        """One explicit PyramidResize: its scale must be sniper's; it gets its test range."""
        if 'scale' not in view:
            self.errors.append(f'  {path}: PyramidResize without scale must be the only '
                               'transform of a TestTimeAug stage (a template for every level)')
            return
        level = view.get('level')
        if not isinstance(level, int) or not 0 <= level < len(self.st.test_scales):
            self.errors.append(f'  {path}.level = {level!r} but {self._mine("test_scales")} '
                               f'has {len(self.st.test_scales)} levels')
            return
        scale = view['scale']
        mine = self.st.test_scales[level]
        as_tuple = tuple(scale) if isinstance(scale, (list, tuple)) else scale
        if as_tuple != mine:
            self.errors.append(f'  {path}.scale = {scale!r} but sniper.test_scales[{level}] = '
                               f'{mine!r}{"" if "test_scales" in self.explicit else " (default)"}')
        rng = self.st.test_ranges[level]
        if view.get('test_range') is not None:
            try:
                theirs = normalize_ranges([view['test_range']]).tolist()
            except ValueError as err:
                self.errors.append(f'  {path}.test_range: {err}')
                return
            if theirs != normalize_ranges([rng]).tolist():
                self.errors.append(
                    f'  {path}.test_range = {view["test_range"]!r} but sniper.test_ranges'
                    f'[{level}] = {rng!r}{"" if "test_ranges" in self.explicit else " (default)"}')
        view['test_range'] = rng


#: Attribute of a ``Config`` returned by :func:`apply_sniper_settings`: its content then.
_RESOLVED = '_sniper_resolved'


def _fingerprint(cfg: Config) -> str:
    return repr(cfg._cfg_dict)


def sniper_settings(cfg: Config) -> Optional[SniperSettings]:
    """The config's validated :class:`~mmsniper.chips.SniperSettings`, or None without a
    ``sniper`` block."""
    if 'sniper' not in cfg or cfg.get('sniper') is None:
        return None
    return SniperSettings.from_dict(dict(cfg['sniper']), where='sniper')


def apply_sniper_settings(cfg: Config, config_path: str = 'the config') -> Config:
    """A copy of ``cfg`` whose SNIPER components hold the values of its ``sniper`` block.

    Also writes the whole validated block (defaults included) back to ``cfg.sniper``, so
    a dumped config shows every value. Idempotent; a config without ``sniper`` comes back
    unchanged, and so does a config this function returned, unchanged since (the settings
    are validated once per run: ``tools/train.py`` resolves, ``SniperRunner`` then finds
    nothing to do).

    Args:
        cfg (Config): the config (after ``--cfg-options`` and, for ``--tta``, after the
            model and test pipeline were swapped for ``tta_model`` / ``tta_pipeline``).
        config_path (str): named in errors.

    Returns:
        Config: the resolved copy.

    Raises:
        ValueError: an invalid ``sniper`` block (unknown key with a "did you mean" hint,
            a value the engine refuses), or a component given a value that contradicts it
            (every such pair, each naming both keys).
    """
    if isinstance(cfg, Config) and cfg.__dict__.get(_RESOLVED) == _fingerprint(cfg):
        return cfg
    try:
        settings = sniper_settings(cfg)
    except ValueError as err:
        raise ValueError(f'{config_path}: {err}') from None
    if settings is None:
        return cfg
    out = copy.deepcopy(cfg)
    resolver = _Resolver(settings, set(cfg['sniper']))
    root = out._cfg_dict if isinstance(out, Config) else out
    for key, value in root.items():
        if key != 'sniper':
            resolver.walk(value, key)
    if resolver.errors:
        raise ValueError(
            f'{config_path}: SNIPER settings are given twice and disagree, or in the wrong '
            'place. Give each value once, in the `sniper` block; the components get them '
            'from there:\n' + '\n'.join(resolver.errors))
    root['sniper'] = settings.as_dict()
    if isinstance(out, Config):  # an attribute, not a key: dumps and pretty_text omit it
        object.__setattr__(out, _RESOLVED, _fingerprint(out))
    return out
