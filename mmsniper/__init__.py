"""mmsniper: SNIPER multi-scale training and inference as an MMDetection 3.x plugin.

``import mmsniper`` (what configs do with ``custom_imports = dict(imports=['mmsniper'])``)
does four things and nothing else:

1. registers its classes into MMDetection's registries (``mmdet.registry``);
2. makes every mmengine checkpoint scheme (local, ``http(s)://``, ``torchvision://``, ...)
   load without running code from the file (:mod:`mmsniper.engine.checkpoint`; no switch);
3. lets configs inherit ``mmsniper::`` base configs (:mod:`mmsniper.engine.configs`;
   ``MMSNIPER_CONFIG_PREFIX=0`` switches it off);
4. makes mmengine's local file backend write atomically (temporary file, fsync, rename:
   :mod:`mmsniper.engine.saving`), so a checkpoint is never torn.

The framework-free rooms (:mod:`mmsniper.chips`, the NumPy chip engine, and
``annotations``, ``imagefiles``, ``advisor``, ``generated``) import on their own:
``import mmsniper.chips`` loads neither MMDetection nor torch: when Python imports this
package only as their parent, the registration waits until MMDetection is imported (by
anything: another room of mmsniper, a config's registry, a tool), and runs right after it.
Importing any other room (``datasets``, ``models``, ``engine``, ``apis``,
``visualization``, ``utils``), or ``mmsniper`` itself, does all four at once.
"""
import importlib.abc
import importlib.util
import sys

from .version import __version__

__all__ = ['__version__', 'register_all_modules']

#: Rooms with no MMDetection, mmengine or torch: importing one of them imports this package
#: as its parent without registering the adapters.
FRAMEWORK_FREE = frozenset({'chips', 'annotations', 'imagefiles', 'advisor', 'generated',
                            'utils', 'version'})


def register_all_modules() -> None:
    """Import the adapters: registers mmsniper's classes into MMDetection's registries,
    installs the safe checkpoint loader and the ``mmsniper::`` config prefix. Idempotent."""
    from . import datasets, engine, models  # noqa: F401  (registration)
    from .visualization import local_visualizer  # noqa: F401  (registration)


def _imported_for() -> str:
    """The module whose import is importing this package: ``'mmsniper.chips'`` when the
    statement was ``import mmsniper.chips``, anything else for ``import mmsniper`` (read
    from the import system's frames: each ``_find_and_load_unlocked`` holds its ``name``)."""
    frame, names = sys._getframe(1), []
    while frame is not None and len(names) < 2:
        code = frame.f_code
        if code.co_name == '_find_and_load_unlocked' and 'importlib' in code.co_filename:
            names.append(frame.f_locals.get('name', ''))
        frame = frame.f_back
    return names[1] if len(names) == 2 else ''


class _RegisterAfterMMDet(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``mmdet`` is first imported, lets the other finders find
    it and runs :func:`register_all_modules` right after MMDetection's ``__init__``."""

    def find_spec(self, name, path, target=None):
        if name != 'mmdet':
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_then_register(module):
                exec_module(module)
                register_all_modules()

            spec.loader.exec_module = exec_then_register
        return spec


_room = _imported_for()
if not (_room.startswith(__name__ + '.') and _room.split('.')[1] in FRAMEWORK_FREE) \
        or 'mmdet' in sys.modules:
    register_all_modules()
else:
    sys.meta_path.insert(0, _RegisterAfterMMDet())
del _room
