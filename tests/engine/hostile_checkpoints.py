"""Hostile checkpoints and data files, as an attacker would write them (test helpers).

Every builder writes a file and returns its path. Files that would run code create
``marker`` when their payload runs, so a test can tell that it did not.
"""
from __future__ import annotations

import copyreg
import functools
import http.server
import os
import pickle
import struct
import threading
import zipfile

import numpy as np
import pytest
import torch

# numpy >= 2 moved the pickled helpers to numpy._core (numpy.core warns)
_MULTIARRAY = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray


class _Reduce:
    """Pickles as ``func(*args)`` (optionally followed by BUILD with ``state``)."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else \
            (self.func, self.args, self.state)


class _GetAttr(_Reduce):
    def __init__(self, obj, name):
        super().__init__(getattr, (obj, name))


class _PlantedHistoryBuffer:
    """A HistoryBuffer whose state plants ``exec(code)`` as ``__reduce_ex__``: the deepcopy
    in mmengine's ``MessageHub.load_state_dict`` calls it (``getattr`` gadget)."""

    def __init__(self, code):
        self.code = code

    @property
    def __class__(self):  # pickle checks that NEWOBJ's class is the object's class
        from mmengine.logging import HistoryBuffer
        return HistoryBuffer

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer

        exec_fn = _GetAttr(_GetAttr(getattr, '__self__'), 'exec')      # builtins.exec
        reductor = _GetAttr({4: (exec_fn, (self.code,))}, 'get')         # {4: ...}.get
        state = {'max_length': 10, '_log_history': np.zeros(1), '_count_history': np.ones(1),
                 '__reduce_ex__': reductor}
        return (copyreg.__newobj__, (HistoryBuffer,), state)


def touch_code(marker: str) -> str:
    """Python text that creates ``marker``."""
    return f'open({marker!r}, "w").write("ran")\n'


def torch_zip(path: str, pkl: bytes, records: dict = None) -> str:
    """A torch zip checkpoint with ``pkl`` as its data.pkl (and ``records``: name -> bytes)."""
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('archive/data.pkl', pkl)
        zf.writestr('archive/version', '3\n')
        for name, data in (records or {}).items():
            zf.writestr(f'archive/{name}', data)
    return path


# -- code execution --------------------------------------------------------------------------
def system_pickle(path: str, marker: str) -> str:
    torch.save({'state_dict': {}, 'meta': {'x': _Reduce(os.system, (f'touch {marker}',))}},
               path)
    return path


def gadget(path: str, marker: str) -> str:
    torch.save({'state_dict': {}, 'meta': {'epoch': 0, 'iter': 0},
                'message_hub': {'log_scalars': {}, 'resumed_keys': {}, 'runtime_info': {
                    'iter': 1, 'x': _PlantedHistoryBuffer(touch_code(marker))}}}, path)
    return path


def config_text(path: str, marker: str, iteration: int, victim: str = None,
                keep_ids=(), state_dict=None) -> str:
    """Data only: a resumable checkpoint whose config text runs code when executed
    (``meta['config']``, mmengine's resume; ``runtime_info['cfg']`` / ``meta['cfg']``,
    inferencers), whose ``best_ckpt`` names ``victim`` and whose ``keep_ckpt_ids`` name
    other checkpoints."""
    code = f"__import__('os').system('touch {marker}')\nmodel = dict(type='x')\n"
    info = {'cfg': code, 'iter': iteration, 'epoch': 0, 'best_score': float('-inf')}
    if victim:
        info['best_ckpt'] = victim
    if keep_ids:
        info['keep_ckpt_ids'] = list(keep_ids)
    torch.save({'meta': {'epoch': 0, 'iter': iteration, 'config': code, 'cfg': code, 'seed': 0},
                'state_dict': state_dict or {}, 'message_hub': {
                    'log_scalars': {}, 'runtime_info': info,
                    'resumed_keys': {k: True for k in info}}}, path)
    return path


def pickled_data_file(path: str, marker: str) -> str:
    """A ``.pkl`` annotation / proposal file that runs code when unpickled."""
    with open(path, 'wb') as f:
        pickle.dump({'metainfo': {}, 'data_list': [
            _Reduce(os.system, (f'touch {marker}',))]}, f, protocol=2)
    return path


# -- the loader itself turned against the process --------------------------------------------
def void_dtype(path: str) -> str:
    """An array whose dtype state declares an object field over raw bytes (a wild pointer
    under an allow-list that admits ``numpy.dtype`` and applies its state)."""
    state = (3, '|', None, ('a',), {'a': (np.dtype('O'), 0)}, 8, 1, 0x3f)
    dtype = _Reduce(np.dtype, ('V8', False, True), state)
    arr = _Reduce(_MULTIARRAY._reconstruct, (np.ndarray, (0,), b'b'),
                  (1, (1,), dtype, False, b'\x41' * 8))
    torch.save({'state_dict': {}, 'meta': {'a': arr}}, path)
    return path


def dtype_state(path: str) -> str:
    """A plain ``f8`` dtype whose state makes the item size 4096 over 8 bytes of data."""
    dtype = _Reduce(np.dtype, ('f8', False, True), (3, '<', None, None, None, 4096, 1, 0))
    arr = _Reduce(_MULTIARRAY._reconstruct, (np.ndarray, (0,), b'b'),
                  (1, (2,), dtype, False, b'\x00' * 16))
    torch.save({'meta': {'a': arr}}, path)
    return path


def bytearray_bomb(path: str, size: int = 2 ** 31) -> str:
    torch.save({'meta': {'b': _Reduce(bytearray, (size,))}}, path)
    return path


def _memo_put(i: int) -> bytes:
    return b'q' + bytes([i]) if i < 256 else b'r' + struct.pack('<I', i)


def _memo_get(i: int) -> bytes:
    return b'h' + bytes([i]) if i < 256 else b'j' + struct.pack('<I', i)


def nested_keys(path: str, levels: int = 60) -> str:
    """A dict keyed by memo-shared nested tuples: hashing doubles the work per level."""
    out = [b'\x80\x02', b')', _memo_put(0)]
    for i in range(levels):
        out += [_memo_get(i), _memo_get(i), b'\x86', _memo_put(i + 1)]
    out += [b'}', _memo_get(levels), b'K\x01', b's', b'.']
    return torch_zip(path, b''.join(out))


def shared_lists(path: str, levels: int = 60) -> str:
    """Lists filled top-down after they were memoized: 2**levels items when expanded."""
    out = [b'\x80\x02']
    for i in range(levels + 1):
        out += [b']', _memo_put(i), b'0']            # EMPTY_LIST, PUT, POP
    for i in range(levels):
        out += [_memo_get(i), _memo_get(i + 1), b'a', _memo_get(i + 1), b'a', b'0']
    out += [_memo_get(0), b'.']
    return torch_zip(path, b''.join(out))


def deep_lists(path: str, depth: int = 100_000) -> str:
    return torch_zip(path, b'\x80\x02' + b']' * depth + b'a' * (depth - 1) + b'.')


def _long(n: int) -> bytes:
    data = n.to_bytes((n.bit_length() + 8) // 8, 'little', signed=True)
    return b'\x8a' + bytes([len(data)]) + data                       # LONG1


def tensor_pkl(numel: int, size, stride, offset: int = 0) -> bytes:
    """data.pkl of ``{'t': tensor}`` over storage '0' (``numel`` uint8), as written."""
    return (b'\x80\x02}X\x01\x00\x00\x00tctorch._utils\n_rebuild_tensor_v2\n('
            b'(X\x07\x00\x00\x00storagectorch\nByteStorage\nX\x01\x00\x00\x000'
            b'X\x03\x00\x00\x00cpu' + _long(numel) + b'tQ' + _long(offset)
            + b'(' + b''.join(map(_long, size)) + b't'
            + b'(' + b''.join(map(_long, stride)) + b't'
            + b'\x89ccollections\nOrderedDict\n)RtRs.')


def oversized_view(path: str) -> str:
    """A tensor of 10**12 elements (stride 0) over a 1-byte storage."""
    return torch_zip(path, tensor_pkl(1, (10 ** 6, 10 ** 6), (0, 0)), {'data/0': b'\x01'})


def zip_bomb(path: str, declared: int = 2 ** 30) -> str:
    """A deflated storage record of ``declared`` zero bytes (about 1 MB in the file),
    written streaming (no buffer of that size here either)."""
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('archive/data.pkl', tensor_pkl(declared, (declared,), (1,)))
        info = zipfile.ZipInfo('archive/data/0')
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, 'w', force_zip64=True) as f:
            chunk = bytes(2 ** 22)
            for _ in range(declared // len(chunk)):
                f.write(chunk)
    return path


# -- fixtures (the test modules load this file with pytest_plugins) ---------------------------
@pytest.fixture
def http_root(tmp_path):
    """A loopback HTTP server over a temporary folder: ``(folder, base URL)``."""
    root = tmp_path / 'served'
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield str(root), f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """``$TORCH_HOME`` set to an empty temporary folder."""
    home = str(tmp_path / 'torch_home')
    monkeypatch.setenv('TORCH_HOME', home)
    return home
