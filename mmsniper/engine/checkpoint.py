"""Make mmengine 0.10.7 checkpoints loadable with torch >= 2.6 (``--resume``, ``load_from``).

torch 2.6 switched ``torch.load`` to ``weights_only=True``; mmengine 0.10.7 does not pass
``weights_only``, so loading its own checkpoints fails on the non-tensor objects they hold:
``HistoryBuffer`` in the message hub (pickled with ``getattr`` references to its statistics
methods), NumPy arrays, scalars and dtypes. Instead of turning the safe loader off
(``weights_only=False`` would run arbitrary pickled code from any file), mmsniper replaces
mmengine's loader for local files with one that keeps ``weights_only=True`` and allows
exactly those types, only while mmengine loads a checkpoint. A checkpoint holding anything
else still fails with torch's own error, which names the type
(``torch.serialization.add_safe_globals`` allows more).
"""
from __future__ import annotations

import builtins
import os.path as osp
from typing import Any, List, Optional

import numpy as np
import torch

_installed = False


def _numpy_globals() -> List[Any]:
    """NumPy objects that pickled arrays, scalars and dtypes reference."""
    objs: List[Any] = [np.ndarray, np.dtype]
    # numpy 2 moved the reconstruct helpers to numpy._core; pickles name either path.
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = __import__(mod_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        objs += [mod._reconstruct, mod.scalar]
    dtypes = getattr(np, 'dtypes', None)  # concrete dtype classes (numpy >= 1.25)
    if dtypes is not None:
        objs += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return objs


def mmengine_checkpoint_globals() -> List[Any]:
    """Everything an mmengine 0.10.7 checkpoint pickles besides tensors and plain types."""
    import codecs

    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer

    return [HistoryBuffer, ConfigDict, builtins.getattr, codecs.encode, *_numpy_globals()]


def load_local_checkpoint(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's local-file checkpoint loader, safe-loading mmengine's own types.

    Args:
        filename (str): path of the checkpoint (``~`` expanded).
        map_location: as for ``torch.load``.

    Returns:
        the loaded checkpoint (usually a dict with ``state_dict``, ``meta``, ...).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    if not hasattr(torch.serialization, 'safe_globals'):  # torch < 2.5: nothing to allow
        return torch.load(filename, map_location=map_location)
    with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
        return torch.load(filename, map_location=map_location, weights_only=True)


def allow_mmengine_checkpoints() -> None:
    """Register :func:`load_local_checkpoint` as mmengine's loader for local paths.

    Idempotent. Remote schemes (``http://``, ``s3://``, ...) keep mmengine's loaders.
    """
    global _installed
    if _installed:
        return
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
    _installed = True
