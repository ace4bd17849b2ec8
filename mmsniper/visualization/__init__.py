"""Every picture mmsniper draws, in one place.

- :mod:`~mmsniper.visualization.local_visualizer`: ``SniperDetVisualizer``, MMDetection's
  detection pictures captioned with what they show (registered in ``VISUALIZERS``; imports
  MMDetection, so it is loaded on first use of the name or by ``import mmsniper``);
- :mod:`~mmsniper.visualization.detections`: ``tools/infer.py``'s pictures (detections,
  AutoFocus maps and chips);
- :mod:`~mmsniper.visualization.chips`: the chips SNIPER trains on (``browse_chips.py``);
- :mod:`~mmsniper.visualization.advisor`: the scale advisor's size histogram.
"""
from .detections import draw_detections, draw_focus

__all__ = ['SniperDetVisualizer', 'caption', 'draw_detections', 'draw_focus']


def __getattr__(name: str):
    # The visualizer subclasses MMDetection's: imported when asked for, so that drawing
    # without MMDetection (the chip and advisor pictures) does not load it.
    if name in ('SniperDetVisualizer', 'caption'):
        from . import local_visualizer

        return getattr(local_visualizer, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
