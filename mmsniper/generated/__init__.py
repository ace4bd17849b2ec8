"""Generated data: ScaleShapes pictures and COCO-like box statistics (NumPy and Pillow only).

- :mod:`~mmsniper.generated.synthetic`: COCO train2017's image and box statistics and the
  samplers every generator draws from (the advisor's and the chip benchmark's annotations);
- :mod:`~mmsniper.generated.scaleshapes`: the ScaleShapes data set (pixels and COCO
  annotations), behind ``tools/dataset_converters/make_scaleshapes.py`` and the demo.

Data generators, not data-set adapters: the data set is read by MMDetection's own
``CocoDataset`` like any COCO-format set.
"""
from .scaleshapes import (
    CLASSES,
    DEFAULT_SPLITS,
    RenderedImage,
    ensure_scaleshapes,
    format_summary,
    make_scaleshapes,
    render_scaleshapes_image,
)
from .synthetic import coco_like_image, synthetic_coco

__all__ = ['CLASSES', 'DEFAULT_SPLITS', 'RenderedImage', 'ensure_scaleshapes', 'format_summary',
           'make_scaleshapes', 'render_scaleshapes_image', 'coco_like_image', 'synthetic_coco']
