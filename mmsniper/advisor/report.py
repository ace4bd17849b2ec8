"""The scale advisor's report: a setting's coverage and cost, the side-by-side table and the
one-edit config fragment (the size histogram: :mod:`mmsniper.visualization.advisor`)."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..chips import SniperSettings
from ..chips.scales import image_scale_factors
from .annotations import BoxSet
from .search import SAMPLE_WORK, Progress, cost_sample, coverage, predict_chip_cost

#: The ``sniper`` keys the advisor decides (and writes).
ADVISED_KEYS = ('scales', 'train_ranges', 'chip_size', 'stride', 'test_scales', 'test_ranges')


def evaluate_setting(boxset: BoxSet, setting: SniperSettings, band: tuple[float, float],
                     sample: int = 500, seed: int = 0, progress: Progress = None,
                     max_work: float = SAMPLE_WORK) -> dict:
    """Coverage (every object) and pixel cost (engine, on a sample) of a setting.

    Args:
        boxset (BoxSet): the annotations.
        setting (SniperSettings): the setting (its ``min_size`` too).
        band (tuple[float, float]): comfortable size band, scaled pixels.
        sample (int): most images of the cost sample (``<= 0``: every image); see
            :func:`cost_sample`, with ``max_work``.
        seed (int): seed of the sample and of the chip shuffle.
        progress (callable | None): ``progress(done, total)`` over the sample.
        max_work (float): engine work that cuts the sample short.

    Returns:
        dict: ``setting`` (the advised keys of the ``sniper`` block and ``min_size``),
        ``levels`` (per level: ``scale``, ``factor`` median/min/max over images,
        ``train_range``, ``test_range``, ``trained`` and ``in_band`` shares of all
        objects, ``chips_per_image``,
        ``pixels_per_image``), ``covered``/``too_small``/``too_large``/``in_gap``
        shares, ``objects``, ``chips_per_image``, ``pixels_per_image``,
        ``sample_images`` and ``images``.
    """
    cov = coverage(boxset, setting, band)
    idx = cost_sample(boxset, setting, sample, seed, max_work=max_work)
    cost = predict_chip_cost(boxset, setting, idx, seed, progress)
    n = max(len(cov.covered), 1)
    levels = []
    for k, scale in enumerate(setting.scales):
        f = image_scale_factors(boxset.image_sizes, scale)
        levels.append(dict(
            scale=scale, factor=dict(median=float(np.median(f)), min=float(f.min()),
                                     max=float(f.max())),
            train_range=setting.train_ranges[k], test_range=setting.test_ranges[k],
            trained=float(cov.trained[k].sum() / n), in_band=float(cov.in_band[k].sum() / n),
            chips_per_image=float(cost.level_chips_per_image[k]),
            pixels_per_image=float(cost.level_chips_per_image[k] * setting.chip_size ** 2)))
    return dict(setting=setting.as_dict(ADVISED_KEYS + ('min_size',)), levels=levels,
                objects=int(len(cov.covered)),
                covered=float(cov.covered.sum() / n), too_small=float(cov.too_small.sum() / n),
                too_large=float(cov.too_large.sum() / n), in_gap=float(cov.in_gap.sum() / n),
                chips_per_image=cost.chips_per_image, pixels_per_image=cost.pixels_per_image,
                sample_images=int(len(idx)), images=boxset.num_images)


def _fmt_range(r: tuple, inclusive: str) -> str:
    lo, hi = r
    lo_s = '0' if lo in (-1, None) else f'{lo:g}'
    hi_s = 'inf' if hi in (-1, None) else f'{hi:g}'
    return f'[{lo_s}, {hi_s})' if inclusive == 'left' else f'({lo_s}, {hi_s}]'


def _fmt_scale(s: Any) -> str:
    return f'x{s:g}' if isinstance(s, (int, float)) else f'({s[0]:g}, {s[1]:g})'


def format_report(reports: Sequence[tuple[str, dict]], band: tuple[float, float]) -> str:
    """A side-by-side table of :func:`evaluate_setting` results (one column each)."""
    n_lv = max(len(rep['levels']) for _, rep in reports)
    rows: list[tuple[str, list[str]]] = [('', [name for name, _ in reports])]

    def add(label: str, fn: Callable[[dict], str]) -> None:
        rows.append((label, [fn(rep) for _, rep in reports]))

    def lv(k: int, fn: Callable[[dict], str]) -> Callable[[dict], str]:
        return lambda rep: fn(rep['levels'][k]) if k < len(rep['levels']) else '-'

    for k in range(n_lv):
        add(f'level {k}: scale', lv(k, lambda d: _fmt_scale(d['scale'])))
        add('  factor (median, min-max)', lv(k, lambda d: '{:.3g} ({:.3g}-{:.3g})'.format(
            d['factor']['median'], d['factor']['min'], d['factor']['max'])))
        add('  train range (orig px)', lv(k, lambda d: _fmt_range(d['train_range'], 'left')))
        add('  test range (orig px)', lv(k, lambda d: _fmt_range(d['test_range'], 'right')))
        add('  objects trained', lv(k, lambda d: f'{100 * d["trained"]:.1f} %'))
        add(f'  objects in band {band[0]:g}-{band[1]:g}', lv(k, lambda d:
                                                             f'{100 * d["in_band"]:.1f} %'))
        add('  chips / image', lv(k, lambda d: f'{d["chips_per_image"]:.2f}'))
        add('  Mpx / image', lv(k, lambda d: f'{d["pixels_per_image"] / 1e6:.2f}'))
    add('in band at >= 1 level', lambda rep: f'{100 * rep["covered"]:.1f} %')
    add('  too small (below band everywhere)', lambda rep: f'{100 * rep["too_small"]:.1f} %')
    add('  too large (above band everywhere)', lambda rep: f'{100 * rep["too_large"]:.1f} %')
    add('  in a gap (band level does not train it)', lambda rep: f'{100 * rep["in_gap"]:.1f} %')
    add('positive chips / image', lambda rep: f'{rep["chips_per_image"]:.2f}')
    add('positive-chip Mpx / image', lambda rep: f'{rep["pixels_per_image"] / 1e6:.2f}')
    add('cost sample (images)', lambda rep: (f'{rep["sample_images"]} of {rep["images"]}'
                                             if rep['sample_images'] < rep['images']
                                             else f'all {rep["images"]}'))
    w0 = max(len(label) for label, _ in rows) + 2
    widths = [max(len(cells[j]) for _, cells in rows) + 3 for j in range(len(reports))]
    lines = []
    for label, cells in rows:
        lines.append(label.ljust(w0) + ''.join(c.ljust(wd) for c, wd in zip(cells, widths)))
    return '\n'.join(line.rstrip() for line in lines)


def config_snippet(setting: SniperSettings, base: Optional[str] = None,
                   header: Sequence[str] = ()) -> str:
    """A config fragment that sets the ``sniper`` block, nothing else (the one edit).

    The advised keys (scales, training ranges, chip size, stride, test scales and ranges;
    ``min_size`` when not the default). The components take the values from ``sniper``
    (:class:`~mmsniper.engine.SniperRunner`), so the fragment works pasted at the end of a
    SNIPER config, or, with ``base``, as a config of its own that inherits one
    (``_base_ = [base]``), to ``_base_`` or train.

    Args:
        setting (SniperSettings): the setting.
        base (str | None): config path written into ``_base_``.
        header (Sequence[str]): comment lines written first.

    Returns:
        str: Python source of the fragment.
    """
    keys = ADVISED_KEYS + (('min_size', ) if setting.min_size != SniperSettings().min_size
                           else ())
    d = setting.as_dict(keys)
    out = [f'# {line}' if line else '#' for line in header]
    if base is not None:
        out.append(f'_base_ = [{base!r}]')
        out.append('')
    out.append('sniper = dict(')
    for key in keys:
        out.append(f'    {key}={d[key]!r},')
    out.append(')')
    return '\n'.join(out) + '\n'

