"""The scale advisor's picture (``tools/analysis_tools/advise_scales.py --plot``): object
sizes against each setting's training ranges. matplotlib is imported only when drawing."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..advisor.annotations import BoxSet
from ..advisor.report import _fmt_range, _fmt_scale
from ..chips import SniperSettings
from ..chips.scales import image_scale_factors


def plot_size_histogram(boxset: BoxSet, settings: Sequence[tuple[str, SniperSettings]],
                        path: str, band: tuple[float, float]) -> None:
    """Histogram of object sizes with each setting's training ranges, as a PNG.

    ``sqrt(w * h)`` in original pixels on a log axis, one panel per setting; each
    level's training range is a shaded span and the sizes its band covers (for the
    median image's factor) a bar above the histogram.

    Args:
        boxset (BoxSet): the annotations.
        settings (Sequence[tuple[str, SniperSettings]]): ``(title, setting)`` panels.
        path (str): the PNG to write.
        band (tuple[float, float]): comfortable size band, scaled pixels.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    z = boxset.sizes()
    z = z[z > 0]
    lo, hi = max(float(z.min()), 0.5), float(z.max())
    bins = np.geomspace(lo / 1.05, hi * 1.05, 60)
    fig, axes = plt.subplots(len(settings), 1, figsize=(12, 3.2 * len(settings)), sharex=True,
                             squeeze=False)
    colors = plt.get_cmap('tab10').colors
    # x range: the objects and every band bar, so that open ranges end at the frame.
    med = [[float(np.median(image_scale_factors(boxset.image_sizes, sc))) for sc in st.scales]
           for _, st in settings]
    x_lo = min([bins[0]] + [band[0] / f for fs in med for f in fs]) / 1.1
    x_hi = max([bins[-1]] + [band[1] / f for fs in med for f in fs]) * 1.1
    for ax, (title, setting), factors in zip(axes[:, 0], settings, med):
        counts, _, _ = ax.hist(z, bins=bins, color='0.55')
        top = max(float(counts.max()), 1.0)
        ranges = setting.train_bounds
        for k, (scale, f) in enumerate(zip(setting.scales, factors)):
            c = colors[k % len(colors)]
            a, b = max(ranges[k, 0], x_lo), min(ranges[k, 1], x_hi)
            if a < b:
                ax.axvspan(a, b, ymax=0.8, color=c, alpha=0.15)
            y = top * (1.08 + 0.08 * k)
            train = _fmt_range(setting.train_ranges[k], 'left')
            ax.plot([band[0] / f, band[1] / f], [y, y], color=c, lw=3,
                    label=f'level {k} {_fmt_scale(scale)}: train {train}')
        ax.set_ylim(0, top * (1.2 + 0.08 * len(setting.scales)) / 0.95)
        ax.set_xscale('log')
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylabel('objects')
        ax.set_title(f'{title}: shaded = training ranges; bars = sizes in the band '
                     f'{band[0]:g}-{band[1]:g} px at the median factor', fontsize=10)
        ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel('sqrt(w * h), original pixels')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
