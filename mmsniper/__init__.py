"""mmsniper: SNIPER multi-scale training and inference as an MMDetection 3.x plugin.

Importing the package does four things and nothing else:

1. registers its classes into MMDetection's registries (``mmdet.registry``);
2. makes every mmengine checkpoint scheme (local, ``http(s)://``, ``torchvision://``, ...)
   load without running code from the file (:mod:`mmsniper.engine.checkpoint`; no switch);
3. lets configs inherit ``mmsniper::`` base configs (:mod:`mmsniper.engine.configs`;
   ``MMSNIPER_CONFIG_PREFIX=0`` switches it off);
4. makes mmengine's local file backend write atomically (temporary file, fsync, rename:
   :mod:`mmsniper.engine.saving`), so a checkpoint is never torn.
Configs load it with ``custom_imports = dict(imports=['mmsniper'])``.

The chip engine (:mod:`mmsniper.chips`) is NumPy only and can be imported on its own.
"""
from . import datasets, engine, models, visualization  # noqa: E402,F401  (registration)
from .version import __version__

__all__ = ['__version__']
