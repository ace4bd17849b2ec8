"""mmsniper: SNIPER multi-scale training and inference as an MMDetection 3.x plugin.

Importing the package registers its classes into MMDetection's registries
(``mmdet.registry``) and allows mmengine's own checkpoint types for torch's
``weights_only`` loader (see :mod:`mmsniper.engine.checkpoint`); it does nothing else.
Configs load it with ``custom_imports = dict(imports=['mmsniper'])``.

The chip engine (:mod:`mmsniper.chips`) is NumPy only and can be imported on its own.
"""
from . import datasets, engine, models  # noqa: E402,F401  (registration)
from .version import __version__

__all__ = ['__version__']
