"""A restricted unpickler for untrusted files: checkpoints (torch zip and legacy formats) and
pickled data files (``.pkl`` annotations, proposals), building DATA only.

Why not ``torch.load(weights_only=True)``: its allow-list is turned against the loader by a
file made of data alone. It admits ``bytearray(N)`` (an 868-byte file allocates 2 GB),
NumPy dtypes whose pickled state is applied as it is (a void dtype with an object field
over raw bytes: wild pointers, segfaults), zip records inflated to whatever size they
declare, and dict keys made of memo-shared tuples whose hashing doubles per level (a
1 kB file that never finishes). This module owns every step instead:

* the file's bytes are checked before anything is built: a zip record's declared size
  must fit in the bytes present (no record, and not all records together, may declare more
  than the file holds), compression is stored or deflate only, the legacy format's
  storages must be present in full;
* the unpickler is Python's own pure-Python ``pickle._Unpickler`` with the opcodes that
  call, build, or hash replaced: ``REDUCE``/``NEWOBJ``/``INST``/``OBJ`` only call this
  module's data constructors, ``BUILD`` only finishes this module's placeholders,
  dict/set/frozenset insertions first measure their keys;
* the constructors build only: NumPy arrays and scalars of plain numeric and boolean
  dtypes (a dtype is made from its type code; its pickled state is checked, never
  applied), tensors over storages whose elements are all present (size, stride and offset
  inside the storage, no more elements than the storage holds), ``OrderedDict``, ``set``,
  ``frozenset``, ``complex``, empty ``bytes``, latin-1 ``_codecs.encode`` (how protocol 2
  pickles bytes), mmengine's ``ConfigDict``, ``HistoryBuffer`` (from its arrays; the
  pickled ``getattr(HistoryBuffer, 'min'|'max'|'current'|'mean')`` of its statistics) and
  ``InstanceData`` (MMDetection's proposal files; fields of data only);
* the result is measured once more: nesting at most :data:`MAX_DEPTH`, no cycles, and its
  size with memo-shared parts counted every time they are reached (what printing, hashing,
  comparing or JSON-encoding it costs) at most ``MAX_EXPANDED + 16 * pickle bytes``.

Everything else is refused with :class:`UnsafeCheckpointError` naming the file and what
it asked for; a damaged file raises the same error ("not a readable ...").
"""
from __future__ import annotations

import _compat_pickle
import io
import math
import os
import pickle
import re
import struct
import types
import zipfile
from collections import Counter, OrderedDict
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

__all__ = ['UnsafeCheckpointError', 'load_torch_file', 'load_pickle', 'MAX_DEPTH',
           'MAX_EXPANDED']

#: Deepest nesting of containers accepted (genuine checkpoints nest < 10 levels).
MAX_DEPTH = 100
#: Expanded size accepted above ``16 * pickle bytes`` (nodes; text counts 1 per 64 chars).
MAX_EXPANDED = 1_000_000
#: HistoryBuffer's built-in statistics, the only methods its pickle may name.
STATISTICS = ('min', 'max', 'current', 'mean')

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint or pickled data file was refused: it asks for something other than data,
    for more than it holds, or it is not readable."""


class _Refused(Exception):
    """Internal: the reason of a refusal (wrapped into UnsafeCheckpointError by the caller)."""


# -- dtypes: made from a type code, never from pickled state --------------------------------
_NP_TYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
             np.uint32, np.uint64, np.float16, np.float32, np.float64, np.complex64,
             np.complex128)
#: NumPy type codes accepted (``'f8'``, ``'b1'``, ...; what ``np.dtype`` pickles carry).
NP_CODES = {np.dtype(t).str[1:]: np.dtype(t) for t in _NP_TYPES}
_NP_DTYPES = frozenset(NP_CODES.values())
#: torch storage class names -> element dtype (``torch.FloatStorage`` ...).
TORCH_STORAGES = {
    'DoubleStorage': torch.float64, 'FloatStorage': torch.float32,
    'HalfStorage': torch.float16, 'BFloat16Storage': torch.bfloat16,
    'LongStorage': torch.int64, 'IntStorage': torch.int32, 'ShortStorage': torch.int16,
    'CharStorage': torch.int8, 'ByteStorage': torch.uint8, 'BoolStorage': torch.bool,
    'ComplexFloatStorage': torch.complex64, 'ComplexDoubleStorage': torch.complex128,
    'UntypedStorage': torch.uint8}
_TORCH_DTYPES = {str(d).split('.')[1]: d for d in set(TORCH_STORAGES.values())}
_LOCATION = re.compile(r'^[a-z_]{1,20}(:\d{1,4})?$')


def _np_dtype(obj: Any) -> np.dtype:
    """``obj`` if it is one of the plain numeric / boolean dtypes, else refused."""
    if not (isinstance(obj, np.dtype) and obj in _NP_DTYPES and obj.names is None
            and obj.subdtype is None and not obj.hasobject and obj.isnative):
        raise _Refused(f'a NumPy dtype {obj!r} (only plain numeric and boolean dtypes are '
                       'data)')
    return obj


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _shape(obj: Any, what: str) -> Tuple[int, ...]:
    if not (isinstance(obj, tuple) and len(obj) <= 32 and all(
            _is_int(s) and 0 <= s for s in obj)):
        raise _Refused(f'{what} {obj!r} (expected a tuple of non-negative ints)')
    return tuple(int(s) for s in obj)


class _NdarrayClass:
    """What the file's ``numpy.ndarray`` resolves to: only a marker for ``_reconstruct``."""


class _Pending:
    """Placeholder the file BUILDs into a real object (never left in a result)."""

    def __init__(self) -> None:
        self.memo_keys: List[int] = []
        self.done = False


class _PendingArray(_Pending):
    def finish(self, state: Any) -> np.ndarray:
        """``ndarray.__setstate__``'s state, checked: ``(version, shape, dtype, fortran,
        raw bytes)`` with exactly ``prod(shape) * itemsize`` bytes."""
        if not (isinstance(state, tuple) and len(state) in (4, 5)):
            raise _Refused('an array state that is not (version, shape, dtype, order, data)')
        shape, dtype, fortran, raw = state[-4:]
        return _array_from_bytes(raw, dtype, shape, 'F' if fortran else 'C')


def _array_from_bytes(raw: Any, dtype: Any, shape: Any, order: Any = 'C') -> np.ndarray:
    dtype = _np_dtype(dtype)
    shape = _shape(shape, 'array shape')
    if isinstance(raw, str):  # Python 2 / encoding='latin1' pickles
        raw = raw.encode('latin1')
    if isinstance(raw, pickle.PickleBuffer):
        raw = bytes(raw)
    if not isinstance(raw, (bytes, bytearray)):
        raise _Refused(f'array data of type {type(raw).__name__} (object arrays are code)')
    if order not in ('C', 'F'):
        raise _Refused(f'array order {order!r}')
    need = math.prod(shape) * dtype.itemsize
    if need != len(raw):
        raise _Refused(f'an array of shape {shape} {dtype} ({need} bytes) over {len(raw)} '
                       'bytes present')
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order).copy(order='K')


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _PendingArray:
    if cls is not _NdarrayClass or shape != (0,):
        raise _Refused(f'numpy _reconstruct({cls!r}, {shape!r}) (only plain ndarrays)')
    return _PendingArray()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    return _array_from_bytes(buf, dtype, shape, order)


def _dtype(code: Any, align: Any = False, copy: Any = True) -> np.dtype:
    if not (isinstance(code, str) and code in NP_CODES):
        raise _Refused(f'numpy dtype {code!r} (only plain numeric and boolean dtypes)')
    return NP_CODES[code]


def _check_dtype_state(dtype: np.dtype, state: Any) -> None:
    """A plain dtype's pickled state must say nothing but its byte order (never applied)."""
    if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
            and state[1] in ('<', '|', '=') and state[2:5] == (None, None, None)
            and state[5:7] == (-1, -1) and _is_int(state[7])
            and (len(state) == 8 or state[8] is None)):
        raise _Refused(f'numpy dtype {dtype} with the state {state!r} (only a plain '
                       'little-endian dtype\'s state is data)')


def _scalar(dtype: Any, raw: Any = None) -> Any:
    dtype = _np_dtype(dtype)
    if isinstance(raw, str):
        raw = raw.encode('latin1')
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise _Refused(f'a NumPy {dtype} scalar over {type(raw).__name__} data')
    return np.frombuffer(raw, dtype=dtype)[0]


# -- torch tensors over storages that are present ------------------------------------------
class _StorageType:
    """What ``torch.FloatStorage`` & co resolve to: a dtype, used in persistent ids only."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _Storage:
    """A storage from the file: ``untyped`` (None while measuring) of ``numel`` elements."""

    def __init__(self, untyped: Optional[torch.UntypedStorage], dtype: torch.dtype,
                 numel: int) -> None:
        self.untyped, self.dtype, self.numel = untyped, dtype, numel


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any,
                    requires_grad: Any = False, backward_hooks: Any = None,
                    metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, _Storage):
        raise _Refused(f'a tensor over {type(storage).__name__} (only file storages)')
    size, stride = _shape(size, 'tensor size'), _shape(stride, 'tensor stride')
    if len(size) != len(stride) or not _is_int(offset) or offset < 0:
        raise _Refused(f'a tensor of size {size}, stride {stride}, offset {offset!r}')
    if not isinstance(requires_grad, bool) or backward_hooks not in (None, {}) \
            or metadata not in (None, {}):
        raise _Refused('a tensor with hooks or metadata (only plain tensors are data)')
    numel = math.prod(size)
    if numel:
        extent = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1
        if extent > storage.numel or numel > storage.numel:
            raise _Refused(f'a tensor of size {size} (stride {stride}, offset {offset}) over '
                           f'a storage of {storage.numel} elements')
    if storage.untyped is None:  # measuring pass of the legacy format
        return torch.empty(0, dtype=storage.dtype)
    t = torch.empty((0,), dtype=storage.dtype, device=storage.untyped.device)
    t = t.set_(storage.untyped, int(offset), size, stride)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any,
                       state: Any = None) -> torch.nn.Parameter:
    if type(data) is not torch.Tensor or not isinstance(requires_grad, bool) \
            or backward_hooks not in (None, {}) or state not in (None, {}, (None, None)):
        raise _Refused('a Parameter that is not a plain tensor')
    return torch.nn.Parameter(data, requires_grad)


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    """``torch._tensor._rebuild_from_type_v2`` for plain tensors / Parameters only."""
    if func not in (_rebuild_tensor, _rebuild_parameter) or new_type not in (
            torch.Tensor, torch.nn.Parameter) or not isinstance(args, tuple) or state:
        raise _Refused(f'a tensor of type {getattr(new_type, "__name__", new_type)!r} with '
                       'state (only plain tensors are data)')
    t = func(*args)
    return t if new_type is type(t) or new_type is torch.Tensor else \
        torch.nn.Parameter(t, t.requires_grad)


def _torch_size(dims: Any = ()) -> torch.Size:
    return torch.Size(_shape(tuple(dims) if isinstance(dims, list) else dims, 'torch.Size'))


def _torch_device(kind: Any, index: Any = None) -> torch.device:
    text = kind if index is None else f'{kind}:{index}'
    if not (isinstance(text, str) and _LOCATION.match(text)):
        raise _Refused(f'torch.device({kind!r}, {index!r})')
    return torch.device(text)


# -- small builtins ---------------------------------------------------------------------------
def _ordered_dict(items: Any = ()) -> OrderedDict:
    if items != ():
        raise _Refused('OrderedDict with constructor arguments')
    return OrderedDict()


def _latin1_encode(text: Any, encoding: Any = 'utf-8') -> bytes:
    """``_codecs.encode``: latin-1 text to bytes (how protocol 2 pickles bytes)."""
    if not (isinstance(text, str) and encoding in ('latin1', 'latin-1')):
        raise _Refused(f'_codecs.encode(..., {encoding!r}) (only latin-1 text)')
    return text.encode('latin1')


def _empty_bytes(*args: Any) -> bytes:
    if args:
        raise _Refused(f'bytes{args!r}: only bytes() (the file\'s own bytes are data, an '
                       'allocation it sizes is not)')
    return b''


def _complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    if not all(isinstance(x, (int, float)) for x in (real, imag)):
        raise _Refused('complex() of non-numbers')
    return complex(real, imag)


class _HistoryBufferFromData:
    """Placeholder of mmengine's ``HistoryBuffer``: becomes one, rebuilt from its arrays."""

    def finish(self, state: Any) -> Any:
        from mmengine.logging import HistoryBuffer

        expected = {'max_length', '_log_history', '_count_history', 'statistics_methods'}
        if not isinstance(state, dict) or not set(state) <= expected:
            extra = sorted(map(str, set(state) - expected)) if isinstance(state, dict) \
                else type(state).__name__
            raise _Refused(f'a HistoryBuffer state holding {extra}: expected only '
                           f'{sorted(expected)}')
        log, count = state.get('_log_history'), state.get('_count_history')
        max_length = state.get('max_length', 1000000)
        for name, arr in (('_log_history', log), ('_count_history', count)):
            if not (isinstance(arr, np.ndarray) and arr.ndim == 1 and arr.dtype.kind in 'biuf'):
                raise _Refused(f'HistoryBuffer.{name} of type {type(arr).__name__}: expected '
                               'a 1-D numeric array')
        if len(log) != len(count) or type(max_length) is not int or max_length < 1:
            raise _Refused(f'HistoryBuffer arrays of different lengths or a max_length '
                           f'{max_length!r}')
        methods = state.get('statistics_methods', {})
        if not (isinstance(methods, dict) and all(
                isinstance(v, _Statistic) for v in methods.values())):
            raise _Refused('HistoryBuffer.statistics_methods other than the built-in '
                           f'statistics {STATISTICS}')
        return HistoryBuffer(log, count, max_length)


class _Statistic:
    """A HistoryBuffer statistic named by the file (dropped; the defaults are restored)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _getattr(owner: Any, name: Any) -> _Statistic:
    """The file's ``getattr``: HistoryBuffer's built-in statistics and nothing else."""
    if owner is _HistoryBufferFromData and name in STATISTICS:
        return _Statistic(name)
    raise _Refused(f'getattr({getattr(owner, "__name__", type(owner).__name__)}, {name!r}) '
                   f'(a file may only name HistoryBuffer.{"/".join(STATISTICS)})')


class _InstanceDataFromData:
    """Placeholder of mmengine's ``InstanceData`` (MMDetection's dumped proposals)."""

    def finish(self, state: Any) -> Any:
        from mmengine.structures import InstanceData

        if not (isinstance(state, dict) and isinstance(state.get('_data_fields'), set)
                and isinstance(state.get('_metainfo_fields'), set)):
            raise _Refused('an InstanceData state without its field sets')
        data_keys, meta_keys = state['_data_fields'], state['_metainfo_fields']
        if not set(state) == data_keys | meta_keys | {'_data_fields', '_metainfo_fields'} \
                or not all(isinstance(k, str) and not k.startswith('_') for k in
                           data_keys | meta_keys):
            raise _Refused('an InstanceData state whose fields do not match its field sets')
        for k in data_keys:
            if not isinstance(state[k], (np.ndarray, torch.Tensor, list)):
                raise _Refused(f'InstanceData field {k!r} of type {type(state[k]).__name__}')
        return InstanceData(metainfo={k: state[k] for k in meta_keys},
                            **{k: state[k] for k in data_keys})


def _config_dict() -> Any:
    from mmengine.config import ConfigDict
    return ConfigDict


# module -> name -> (object, how it may be used: 'call' via REDUCE/INST/OBJ, 'new' via
# NEWOBJ, 'value' (not callable), 'marker')
def _globals_table() -> Dict[Tuple[str, str], Tuple[Any, str]]:
    table: Dict[Tuple[str, str], Tuple[Any, str]] = {
        ('collections', 'OrderedDict'): (_ordered_dict, 'call'),
        ('collections', 'Counter'): (Counter, 'measured'),  # MultiStepLR's milestones
        ('builtins', 'set'): (set, 'collection'),
        ('builtins', 'frozenset'): (frozenset, 'collection'),
        ('__builtin__', 'set'): (set, 'collection'),
        ('builtins', 'complex'): (_complex, 'call'),
        ('builtins', 'bytes'): (_empty_bytes, 'call'),
        ('_codecs', 'encode'): (_latin1_encode, 'call'),
        ('builtins', 'getattr'): (_getattr, 'call'),
        ('torch._utils', '_rebuild_tensor_v2'): (_rebuild_tensor, 'call'),
        ('torch._utils', '_rebuild_tensor'): (_rebuild_tensor, 'call'),
        ('torch._utils', '_rebuild_parameter'): (_rebuild_parameter, 'call'),
        ('torch._utils', '_rebuild_parameter_with_state'): (_rebuild_parameter, 'call'),
        ('torch._tensor', '_rebuild_from_type_v2'): (_rebuild_from_type, 'call'),
        ('torch._tensor', 'Tensor'): (torch.Tensor, 'value'),
        ('torch', 'Tensor'): (torch.Tensor, 'value'),
        ('torch.nn.parameter', 'Parameter'): (torch.nn.Parameter, 'value'),
        ('torch', 'Size'): (_torch_size, 'call'),
        ('torch', 'device'): (_torch_device, 'call'),
        ('mmengine.logging.history_buffer', 'HistoryBuffer'): (_HistoryBufferFromData, 'new'),
        ('mmengine.structures.instance_data', 'InstanceData'): (_InstanceDataFromData, 'new'),
        ('mmengine.config.config', 'ConfigDict'): (_config_dict(), 'measured'),
        ('numpy', 'ndarray'): (_NdarrayClass, 'marker'),
        ('numpy', 'dtype'): (_dtype, 'call'),
    }
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        table[(mod, '_reconstruct')] = (_reconstruct, 'call')
        table[(mod, 'scalar')] = (_scalar, 'call')
    for mod in ('numpy.core.numeric', 'numpy._core.numeric'):
        table[(mod, '_frombuffer')] = (_frombuffer, 'call')
    for name, dtype in TORCH_STORAGES.items():
        for mod in ('torch', 'torch.cuda'):
            table[(mod, name)] = (_StorageType(dtype), 'value')
    for name, dtype in _TORCH_DTYPES.items():
        table[('torch', name)] = (dtype, 'value')
    for stat in STATISTICS:  # protocol >= 4 names methods by qualified name
        table[('mmengine.logging.history_buffer', f'HistoryBuffer.{stat}')] = (
            _Statistic(stat), 'value')
    return table


_GLOBALS: Optional[Dict[Tuple[str, str], Tuple[Any, str]]] = None
_KINDS: Dict[int, str] = {}  # id(allowed object) -> kind (the table keeps them alive)


def _allowed() -> Dict[Tuple[str, str], Tuple[Any, str]]:
    global _GLOBALS
    if _GLOBALS is None:
        _GLOBALS = _globals_table()
        _KINDS.update({id(v): kind for v, kind in _GLOBALS.values()})
    return _GLOBALS


# -- measuring memo-shared structure ---------------------------------------------------------
_CONTAINERS = (dict, list, tuple, set, frozenset)


def _leaf_weight(obj: Any) -> int:
    return 1 + len(obj) // 64 if isinstance(obj, (str, bytes, bytearray)) else 1


def _children(obj: Any):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield v
    else:
        yield from obj


def measure(root: Any, limit: int, cache: Dict[int, Tuple[Any, int, int]],
            kinds: tuple = _CONTAINERS, forbid: tuple = ()) -> Tuple[int, int]:
    """``(expanded size, depth)`` of ``root``, counting shared parts each time they are
    reached; refused past ``limit`` / :data:`MAX_DEPTH`, on a cycle, or on an object of a
    ``forbid`` type. Iterative, and linear in the distinct containers (``cache``: id ->
    (obj, size, depth))."""
    if forbid and isinstance(root, forbid):
        raise _Refused(f'a result that is a {type(root).__name__}, not data')
    if not isinstance(root, kinds):
        return _leaf_weight(root), 0
    stack: List[Tuple[Any, bool]] = [(root, False)]
    open_ids = set()
    while stack:
        obj, done = stack.pop()
        key = id(obj)
        if done:
            size, depth = 1, 0
            for c in _children(obj):
                if isinstance(c, kinds):
                    _, cs, cd = cache[id(c)]
                elif forbid and isinstance(c, forbid):
                    raise _Refused(f'a {type(c).__name__} left in the result (not data)')
                else:
                    cs, cd = _leaf_weight(c), -1
                size += cs
                depth = max(depth, cd + 1)
                if size > limit:
                    raise _Refused(f'a structure that expands to more than {limit} items '
                                   '(memo-shared nesting)')
            if depth > MAX_DEPTH:
                raise _Refused(f'containers nested more than {MAX_DEPTH} levels deep')
            cache[key] = (obj, size, depth)
            open_ids.discard(key)
            continue
        if key in cache:
            continue
        if key in open_ids:
            raise _Refused('a structure that contains itself')
        open_ids.add(key)
        stack.append((obj, True))
        if len(open_ids) > MAX_DEPTH + 1:
            raise _Refused(f'containers nested more than {MAX_DEPTH} levels deep')
        for c in _children(obj):
            if isinstance(c, kinds) and id(c) not in cache:
                if id(c) in open_ids:
                    raise _Refused('a structure that contains itself')
                stack.append((c, False))
    _, size, depth = cache[id(root)]
    return size, depth


#: What may be on the unpickler's stack but never in a result.
_NOT_DATA = (_Pending, _HistoryBufferFromData, _InstanceDataFromData, _Statistic,
             _StorageType, _Storage, type, types.FunctionType, types.BuiltinFunctionType)


class _Memo(dict):
    """The unpickler's memo, noting where placeholders are kept (replaced when built)."""

    def __setitem__(self, key: int, value: Any) -> None:
        if isinstance(value, (_Pending, _HistoryBufferFromData, _InstanceDataFromData)):
            value.memo_keys = getattr(value, 'memo_keys', []) + [key]
        dict.__setitem__(self, key, value)


class RestrictedUnpickler(pickle._Unpickler):
    """``pickle._Unpickler`` whose every call, build and hash goes through this module.

    Args:
        data (bytes): the pickle stream (whole: reads never allocate more than is present).
        persistent_load (callable, optional): torch storages (``None``: refused).
        offset (int): where the stream starts in ``data``.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data: bytes,
                 persistent_load: Optional[Callable[[Any], Any]] = None,
                 offset: int = 0) -> None:
        self._buffer = io.BytesIO(data)  # shares ``data``'s memory (no copy)
        self._buffer.seek(offset)
        super().__init__(self._buffer, encoding='utf-8')
        self.memo = _Memo()
        self._persistent = persistent_load
        self._limit = MAX_EXPANDED + 16 * len(data)
        self._key_sizes: Dict[int, Tuple[Any, int, int]] = {}

    def position(self) -> int:
        """Where the stream stands in ``data`` (after :meth:`load`: just past its STOP)."""
        return self._buffer.tell()

    def load(self) -> Any:
        result = super().load()
        measure(result, self._limit, {}, forbid=_NOT_DATA)
        return result

    def load_bytearray8(self) -> None:
        # pickle's own allocates the declared length before reading it
        (n,) = struct.unpack('<Q', self.read(8))
        data = self.read(n)
        if len(data) != n:
            raise _Refused(f'a bytearray declaring {n} bytes, more than the file holds')
        self.append(bytearray(data))
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    # globals and calls
    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:  # Python 2 names (protocol 2 writes __builtin__, ...)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        entry = _allowed().get((module, name))
        if entry is None:
            raise _Refused(f'it asks for the global {module}.{name}, which is not data')
        return entry[0]

    @staticmethod
    def _kind(obj: Any) -> Optional[str]:
        _allowed()
        return _KINDS.get(id(obj))

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise _Refused('a persistent id (torch storage) in a plain pickle')
        return self._persistent(pid)

    def _call(self, func: Any, args: Any) -> Any:
        kind = self._kind(func)
        if not isinstance(args, tuple):
            raise _Refused(f'call arguments of type {type(args).__name__}')
        if kind == 'call':
            return func(*args)
        if kind == 'measured':  # ConfigDict / Counter (dict): copies, so measure first
            if len(args) > 1 or (args and type(args[0]) is not dict):
                raise _Refused(f'{func.__name__}() of anything but a dict')
            measure(args, self._limit, {}, forbid=_NOT_DATA)
            return func(*args)
        if kind == 'collection':  # set / frozenset
            if len(args) > 1 or (args and not isinstance(args[0], (list, tuple))):
                raise _Refused(f'{func.__name__}() of a {type(args[0]).__name__}')
            items = args[0] if args else ()
            self._check_keys(items)
            return func(items)
        raise _Refused(f'a call of {getattr(func, "__name__", type(func).__name__)}')

    def load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args)
    dispatch[pickle.REDUCE[0]] = load_reduce

    def _instantiate(self, klass: Any, args: Any) -> None:
        self.append(self._call(klass, tuple(args)))

    def _new(self, cls: Any, args: Any, kwargs: Any = None) -> None:
        if self._kind(cls) != 'new' or args not in ((), []) or kwargs:
            raise _Refused(f'creating a {getattr(cls, "__name__", type(cls).__name__)} '
                           f'object')
        self.append(cls.__new__(cls))

    def load_newobj(self) -> None:
        args = self.stack.pop()
        self._new(self.stack.pop(), args)
    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs, args = self.stack.pop(), self.stack.pop()
        self._new(self.stack.pop(), args, kwargs)
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, (_Pending, _HistoryBufferFromData, _InstanceDataFromData)):
            if getattr(inst, 'done', False):
                raise _Refused('an object built twice')
            obj = inst.finish(state)
            inst.done = True
            self.stack[-1] = obj
            for k in getattr(inst, 'memo_keys', ()):
                dict.__setitem__(self.memo, k, obj)
        elif isinstance(inst, np.dtype):
            _check_dtype_state(inst, state)
        elif type(inst) is OrderedDict and isinstance(state, dict) and set(state) <= {
                '_metadata'}:
            inst.__dict__.update(state)  # a state_dict's version metadata
        else:
            raise _Refused(f'setting the state of a {type(inst).__name__}')
    dispatch[pickle.BUILD[0]] = load_build

    # containers: only plain ones, keys measured before they are hashed
    def _check_keys(self, keys: Any) -> None:
        for k in keys:
            if isinstance(k, (tuple, frozenset)):
                measure(k, self._limit, self._key_sizes, kinds=(tuple, frozenset))

    def _target(self, kinds: tuple) -> Any:
        target = self.stack[-1]
        if type(target) not in kinds:
            raise _Refused(f'adding items to a {type(target).__name__}')
        return target

    def load_setitem(self) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        self._check_keys((key,))
        self._target((dict, OrderedDict))[key] = value
    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self) -> None:
        items = self.pop_mark()
        self._check_keys(items[::2])
        target = self._target((dict, OrderedDict))
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]
    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_dict(self) -> None:
        items = self.pop_mark()
        self._check_keys(items[::2])
        self.append({items[i]: items[i + 1] for i in range(0, len(items) - 1, 2)})
    dispatch[pickle.DICT[0]] = load_dict

    def load_additems(self) -> None:
        items = self.pop_mark()
        self._check_keys(items)
        target = self.stack[-1]
        if type(target) is not set:
            raise _Refused(f'adding items to a {type(target).__name__}')
        target.update(items)
    dispatch[pickle.ADDITEMS[0]] = load_additems

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        self._check_keys(items)
        self.append(frozenset(items))
    dispatch[pickle.FROZENSET[0]] = load_frozenset

    def load_append(self) -> None:
        value = self.stack.pop()
        self._target((list,)).append(value)
    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self) -> None:
        items = self.pop_mark()
        self._target((list,)).extend(items)
    dispatch[pickle.APPENDS[0]] = load_appends


# -- files -----------------------------------------------------------------------------------
def _read_all(source: Union[str, IO[bytes]]) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        with open(source, 'rb') as f:
            return f.read()
    return source.read()


def _storage_from_bytes(data: Any, nbytes: int) -> torch.UntypedStorage:
    if nbytes == 0:
        return torch.UntypedStorage(0)
    return torch.frombuffer(data, dtype=torch.uint8, count=nbytes).untyped_storage()


class _RestoreFailed(Exception):
    """Internal: ``map_location`` failed (raised to the caller as it is: not the file's fault,
    e.g. a CUDA checkpoint on a machine without CUDA and no ``map_location``)."""


def _restore(map_location: Any) -> Callable:
    restore = torch.serialization._get_restore_location(map_location)

    def checked(storage: torch.UntypedStorage, location: str) -> torch.UntypedStorage:
        try:
            return restore(storage, location)
        except Exception as e:  # noqa: BLE001
            raise _RestoreFailed(e) from None

    return checked


def _check_pid(pid: Any, n: int) -> Tuple[Any, ...]:
    if not (isinstance(pid, tuple) and len(pid) == n and pid[0] in ('storage', b'storage')):
        raise _Refused(f'a persistent id {pid!r:.80} (only torch storages)')
    storage_type, key, location, numel = pid[1:5]
    if not isinstance(storage_type, _StorageType) or not _is_int(numel) or numel < 0 \
            or not isinstance(key, (str, int)) or isinstance(key, bool):
        raise _Refused(f'a storage id {pid!r:.80}')
    location = location.decode('ascii', 'replace') if isinstance(location, bytes) else location
    if not (isinstance(location, str) and _LOCATION.match(location)):
        raise _Refused(f'a storage location {location!r:.40}')
    return (storage_type.dtype, str(key), location, int(numel)) + pid[5:]


def _load_zip(source: Union[str, IO[bytes]], map_location: Any) -> Any:
    restore = _restore(map_location)
    if isinstance(source, (str, os.PathLike)):
        size = os.path.getsize(source)
    else:
        pos = source.seek(0, io.SEEK_END)
        source.seek(0)
        size = pos
    with zipfile.ZipFile(source) as zf:
        infos = zf.infolist()
        declared = 0
        for info in infos:
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Refused(f'zip record {info.filename!r} compressed with method '
                               f'{info.compress_type} (only stored or deflate)')
            declared += info.file_size
            if info.file_size > size or info.header_offset + info.compress_size > size \
                    or declared > size:
                raise _Refused(f'zip record {info.filename!r} declaring {info.file_size} '
                               f'bytes, more than the {size} bytes of the file (records '
                               'together may not declare more than the file holds)')
        pkl = [i.filename for i in infos if i.filename.endswith('/data.pkl')
               and i.filename.count('/') == 1]
        if len(pkl) != 1:
            raise _Refused('a zip file that is not a torch checkpoint (no single '
                           '<archive>/data.pkl)')
        prefix = pkl[0][:-len('data.pkl')]
        names = set(zf.namelist())
        if prefix + 'byteorder' in names and zf.read(prefix + 'byteorder') != b'little':
            raise _Refused('a big-endian checkpoint (re-save it on a little-endian machine)')
        loaded: Dict[str, _Storage] = {}

        def persistent_load(pid: Any) -> _Storage:
            dtype, key, location, numel = _check_pid(pid, 5)
            elsize = torch.empty(0, dtype=dtype).element_size()
            if key in loaded:
                st = loaded[key]
                if numel * elsize > st.numel * torch.empty(0, dtype=st.dtype).element_size():
                    raise _Refused(f'storage {key} of {numel} elements, more than it holds')
                return _Storage(st.untyped, dtype, numel)
            name = f'{prefix}data/{key}'
            if name not in names:
                raise _Refused(f'a storage record {name!r} that is not in the file')
            info = zf.getinfo(name)
            nbytes = numel * elsize
            if nbytes > info.file_size:
                raise _Refused(f'storage {key} of {numel} {dtype} elements ({nbytes} bytes) '
                               f'over a record of {info.file_size} bytes')
            buf = bytearray(info.file_size)
            with zf.open(info) as f:
                if f.readinto(buf) != info.file_size:
                    raise _Refused(f'a truncated storage record {name!r}')
            untyped = restore(_storage_from_bytes(buf, nbytes), location)
            loaded[key] = _Storage(untyped, dtype, numel)
            return loaded[key]

        data = zf.read(pkl[0])
        return RestrictedUnpickler(data, persistent_load).load()


def _load_legacy(data: bytes, map_location: Any) -> Any:
    """torch's pre-1.6 format: magic, protocol, sys info, the object, storage keys, then
    each storage's element count (int64) and bytes. Read twice: first to learn what the
    storages are (no data), then with the storages, each present in full."""
    pos = 0
    for expected in (_LEGACY_MAGIC, _LEGACY_PROTOCOL):
        u = RestrictedUnpickler(data, offset=pos)
        if u.load() != expected:
            raise _Refused('a file that is not a torch checkpoint (bad magic number)')
        pos = u.position()
    u = RestrictedUnpickler(data, offset=pos)
    sys_info = u.load()
    if not (isinstance(sys_info, dict) and sys_info.get('little_endian') is True):
        raise _Refused('a big-endian or unknown legacy checkpoint')
    start = u.position()
    declared: Dict[str, Tuple[torch.dtype, int, str]] = {}

    def declare(pid: Any) -> _Storage:
        dtype, key, location, numel, view = _check_pid(pid, 6)
        if key in declared and declared[key][:2] != (dtype, numel):
            raise _Refused(f'storage {key} declared twice with different sizes')
        declared[key] = (dtype, numel, location)
        return _view(_Storage(None, dtype, numel), view)

    main = RestrictedUnpickler(data, declare, offset=start)
    main.load()
    u = RestrictedUnpickler(data, offset=main.position())
    keys = u.load()
    pos = u.position()
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)
            and set(keys) == set(declared) and len(keys) == len(declared)):
        raise _Refused('legacy storage keys that do not match the storages used')
    restore = _restore(map_location)
    storages: Dict[str, _Storage] = {}
    for key in keys:
        dtype, numel, location = declared[key]
        if pos + 8 > len(data):
            raise _Refused(f'storage {key} missing from the file')
        (count,) = struct.unpack_from('<q', data, pos)
        nbytes = numel * torch.empty(0, dtype=dtype).element_size()
        if count != numel or pos + 8 + nbytes > len(data):
            raise _Refused(f'storage {key} of {numel} elements with {count} in the file and '
                           f'{len(data) - pos - 8} bytes left')
        buf = bytearray(data[pos + 8:pos + 8 + nbytes])
        storages[key] = _Storage(restore(_storage_from_bytes(buf, nbytes), location), dtype,
                                 numel)
        pos += 8 + nbytes

    def persistent_load(pid: Any) -> _Storage:
        dtype, key, _, numel, view = _check_pid(pid, 6)
        st = storages[key]
        return _view(_Storage(st.untyped, dtype, numel), view)

    return RestrictedUnpickler(data, persistent_load, offset=start).load()


def _view(st: _Storage, view: Any) -> _Storage:
    """A legacy storage view ``(key, offset, size)`` of ``st``, inside it."""
    if view is None:
        return st
    if not (isinstance(view, tuple) and len(view) == 3 and _is_int(view[1])
            and _is_int(view[2]) and 0 <= view[1] and 0 <= view[2]
            and view[1] + view[2] <= st.numel):
        raise _Refused(f'a storage view {view!r:.60} outside its storage')
    offset, numel = int(view[1]), int(view[2])
    if st.untyped is None:
        return _Storage(None, st.dtype, numel)
    el = torch.empty(0, dtype=st.dtype).element_size()
    return _Storage(st.untyped[offset * el:(offset + numel) * el], st.dtype, numel)


def _refusal(what: str, name: str, e: BaseException) -> UnsafeCheckpointError:
    if isinstance(e, _Refused):
        return UnsafeCheckpointError(f'{what} {name} refused: {e}')
    return UnsafeCheckpointError(f'{what} {name} refused: not a readable {what} '
                                 f'({type(e).__name__}: {str(e)[:200]})')


def load_torch_file(source: Union[str, IO[bytes]], map_location: Any = None,
                    name: Optional[str] = None) -> Any:
    """Load a ``torch.save`` file (zip or legacy format) without running code from it.

    Args:
        source (str | file object): a local path or an open binary file / buffer.
        map_location: as for ``torch.load``.
        name (str, optional): how errors name the file (default: ``source``).

    Raises:
        UnsafeCheckpointError: the file asks for something that is not data, declares
            more than it holds, or is not a readable checkpoint.
    """
    name = name or (str(source) if isinstance(source, (str, os.PathLike)) else '<buffer>')
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, 'rb') as f:
                magic = f.read(4)
        else:
            magic = source.read(4)
            source.seek(0)
        if magic == b'PK\x03\x04':
            return _load_zip(source, map_location)
        data = _read_all(source)
        if len(data) > 262 and data[257:262] == b'ustar':
            raise _Refused('the legacy tar format (load it where you trust it and re-save '
                           'with torch.save)')
        return _load_legacy(data, map_location)
    except (MemoryError, KeyboardInterrupt):
        raise
    except _RestoreFailed as e:
        raise e.args[0] from None
    except Exception as e:  # noqa: BLE001  every failure of an untrusted file is a refusal
        raise _refusal('checkpoint', name, e) from None


def load_pickle(file: IO[bytes], name: str = '<stream>') -> Any:
    """Unpickle a data file (``.pkl``) with the restricted unpickler (no torch storages)."""
    try:
        data = file.read()
        if isinstance(data, str):
            data = data.encode('latin1')
        return RestrictedUnpickler(data).load()
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001
        raise _refusal('pickled data file', name, e) from None
