"""Make mmengine 0.10.7 checkpoints loadable with torch >= 2.6.

torch 2.6 switched ``torch.load`` to ``weights_only=True``; mmengine 0.10.7 does not pass
``weights_only``, so resuming fails on the non-tensor objects an mmengine checkpoint
holds (``HistoryBuffer`` in the message hub, NumPy scalars and arrays in logged values).
Instead of turning the safe loader off (``weights_only=False`` would run arbitrary
pickled code from any checkpoint), mmsniper adds exactly those types to torch's
allow-list. A checkpoint holding anything else still fails with torch's own error,
which names the type to allow (``torch.serialization.add_safe_globals``).
"""
from __future__ import annotations

import numpy as np
import torch

_done = False


def _numpy_globals() -> list:
    """NumPy objects that pickled arrays and scalars reference."""
    objs: list = [np.ndarray, np.dtype]
    # numpy 2 moved the reconstruct helper to numpy._core; pickles name either path.
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = __import__(mod_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        objs += [mod._reconstruct, mod.scalar]
        break
    # Concrete dtype classes (numpy.dtypes.Float64DType, ...) appear in numpy >= 1.25 pickles.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        objs += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return objs


def allow_mmengine_checkpoints() -> None:
    """Allow-list the types mmengine writes into checkpoints for ``weights_only`` loading.

    Idempotent; a no-op on torch < 2.4, which has no allow-list (and loads everything).
    """
    global _done
    if _done or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.logging import HistoryBuffer
    from mmengine.config import ConfigDict

    torch.serialization.add_safe_globals([HistoryBuffer, ConfigDict, *_numpy_globals()])
    _done = True
