"""Files that are never seen half written: write a temporary file, fsync it, rename it.

The one atomic-write helper of the package (checkpoints through mmengine's local file
backend, ``last_checkpoint``, proposal ``.npz`` files, inference results, ScaleShapes
annotations, the large-image converter's pyramids and lists, the experiment driver's
records). It lives in ``mmsniper/utils/`` (standard library only, as ``mmdet.utils`` holds
mmdet's helpers) because every layer writes files: ``datasets``, ``apis``, ``engine`` and
``tools`` import it, and the NumPy core in ``chips/`` does no I/O.

Why temp + fsync + rename: ``os.replace`` within one directory is atomic on POSIX file
systems, so a reader, a resumed run or a crash sees either the old file or the new one,
never a torn one; the ``fsync`` before it makes the new bytes durable before the name
points at them (otherwise a power loss can leave a complete name over empty blocks), and
the ``fsync`` of the directory after it makes the rename itself durable.

The temporary name is ``.tmp-<pid>-<final name>`` in the final file's directory: hidden,
on the same file system (rename never copies), and ending like the final name (``cv2`` and
``numpy.savez`` choose the format by the extension). A process killed mid-write leaves such
a file; :func:`remove_stale_temps` clears those of dead processes.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import os.path as osp
import re
from typing import Any, Iterator, List, Union

__all__ = ['atomic_path', 'atomic_write', 'atomic_json', 'is_temp_name', 'remove_stale_temps']

_TEMP = re.compile(r'^\.tmp-(\d+)-(.+)$')


def _fsync_path(path: str, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, 'O_DIRECTORY', 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems cannot fsync a directory: the rename stands
        if not directory or e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str, fsync: bool = True) -> Iterator[str]:
    """Yield a temporary path next to ``path``; when the block ends without error, the file
    written there is fsynced and renamed to ``path`` (then the directory is fsynced).

    On any error (the block's or the disk's: ``ENOSPC``, ``EACCES``, ...) the temporary
    file is removed and the error re-raised: ``path`` is left exactly as it was.

    Args:
        path (str): the final path (its directory is created if missing).
        fsync (bool): make the bytes and the rename durable (default True).

    Example:
        >>> with atomic_path('out/preds.png') as tmp:
        ...     cv2.imwrite(tmp, picture)
    """
    folder, name = osp.split(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.tmp-{os.getpid()}-{name}')
    try:
        yield tmp
        if not osp.isfile(tmp):
            raise FileNotFoundError(f'atomic write of {path}: nothing was written to {tmp}')
        if fsync:
            _fsync_path(tmp)
        os.replace(tmp, path)
        if fsync:
            _fsync_path(folder, directory=True)
    finally:
        if osp.lexists(tmp):
            os.remove(tmp)


def atomic_write(path: str, data: Union[bytes, str], encoding: str = 'utf-8',
                 fsync: bool = True) -> None:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` atomically
    (:func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync) as tmp:
        if isinstance(data, str):
            with open(tmp, 'w', encoding=encoding) as f:
                f.write(data)
        else:
            with open(tmp, 'wb') as f:
                f.write(data)


def atomic_json(path: str, obj: Any, fsync: bool = True, **dump_kwargs: Any) -> None:
    """``json.dump(obj, f, **dump_kwargs)`` to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(obj, f, **dump_kwargs)


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_path`'s temporary names."""
    return _TEMP.match(osp.basename(name)) is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str) -> List[str]:
    """Remove the temporary files that killed writers left in ``folder``: those of
    processes that no longer run on this machine (another live process's, and this
    process's own, are kept). Returns the removed paths."""
    removed = []
    if not osp.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        m = _TEMP.match(name)
        if m is None or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        path = osp.join(folder, name)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed
