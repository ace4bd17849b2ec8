"""Fuzzing the safe checkpoint loader: random mutations of a genuine checkpoint.

Each case mutates (fixed seed, case index -> the same mutant everywhere) either the pickle
stream (``data.pkl``) of a genuine mmengine-style checkpoint, the bytes of its zip
container (central-directory sizes and compression methods included), or the same
checkpoint in torch's legacy format, and loads it with
:func:`~mmsniper.engine.safe_pickle.load_torch_file`, then uses the result the way
mmengine does (deep copy, printing). A case passes when it loads or raises
:class:`~mmsniper.engine.safe_pickle.UnsafeCheckpointError`; it fails on any other
exception, a crash of the process (segfault), more than ``timeout`` seconds, or memory past
``memory_mb`` above the worker's start (``RLIMIT_AS``).

The cases run in worker subprocesses (per-case ``SIGALRM``, an address-space limit); a
worker that dies is replaced and its case recorded. ``tools/analysis_tools/
fuzz_checkpoints.py`` is the command line; ``tests/engine/test_checkpoint_fuzz.py`` runs
1000 cases.
"""
from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import time
import zipfile
from typing import Dict, List, Optional

__all__ = ['genuine_checkpoint', 'mutant', 'run_fuzz']

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1,
                2 ** 40, 2 ** 63 - 1, 2 ** 64 - 1)


def genuine_checkpoint(legacy: bool = False) -> bytes:
    """A small checkpoint as mmengine's runner saves it: weights, Adam state, a message hub
    with HistoryBuffers, NumPy values, config text, RNG states."""
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(1, 3, 6, 6)).sum().backward()
    opt.step()
    info = {'iter': 3, 'best_score': np.float64(0.5), 'cfg': 'model = dict(type="X")\n'}
    hub = {'log_scalars': {'train/loss': HistoryBuffer([1.0, 0.5, 0.25], [1, 1, 1])},
           'runtime_info': info, 'resumed_keys': {'train/loss': True, **{k: True for k in info}}}
    ck = {'meta': {'epoch': 1, 'iter': 3, 'seed': 7, 'cfg': 'model = dict(type="X")\n',
                   'dataset_meta': {'classes': ('a', 'b'), 'palette': [(1, 2, 3)]}},
          'state_dict': model.state_dict(), 'optimizer': opt.state_dict(),
          'message_hub': hub,
          'rng': {'numpy': np.random.RandomState(0).get_state(),
                  'torch': torch.get_rng_state()[:64]}}
    if legacy:  # one storage (two views of it): its key is renamed to the same every run
        flat = torch.arange(40, dtype=torch.float32)
        ck.update(state_dict={'conv.weight': flat[:36].view(4, 1, 3, 3), 'conv.bias': flat[36:]})
        del ck['optimizer'], ck['rng']['torch']
    buf = io.BytesIO()
    torch.save(ck, buf, _use_new_zipfile_serialization=not legacy)
    if legacy:
        return _stable_legacy_keys(buf.getvalue())
    with zipfile.ZipFile(buf) as zf:  # the same bytes every time: no random id, no clock
        records = {i.filename: zf.read(i) for i in zf.infolist()}
    records = {n: b'0' * len(d) if n.endswith('serialization_id') else d
               for n, d in records.items()}
    return _zip(records)


def _stable_legacy_keys(data: bytes) -> bytes:
    """The legacy format names storages by their memory address: rename them (same length;
    with one storage the file is then the same on every run)."""
    import pickletools

    f = io.BytesIO(data)
    for _ in range(4):  # magic number, protocol, sys info, the object
        for _ in pickletools.genops(f):
            pass
    keys = [arg for op, arg, _ in pickletools.genops(f) if isinstance(arg, str)]
    for i, key in enumerate(keys):
        data = data.replace(key.encode(), f'{i:0{len(key)}d}'.encode())
    return data


def _zip(records: Dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w') as zf:
        for name, data in records.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _mutate_bytes(data: bytearray, rng: random.Random) -> bytearray:
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        if not data:
            data += bytes([rng.randrange(256)])
        op = rng.randrange(7)
        i = rng.randrange(len(data))
        if op == 0:  # flip bits
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # random byte
            data[i] = rng.randrange(256)
        elif op == 2:  # an interesting integer over 1-8 bytes
            width = rng.choice((1, 2, 4, 8))
            value = rng.choice(_INTERESTING) & ((1 << (8 * width)) - 1)
            data[i:i + width] = value.to_bytes(width, 'little')
        elif op == 3:  # insert random bytes
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif op == 4:  # delete a range
            del data[i:i + rng.randrange(1, 33)]
        elif op == 5:  # duplicate a range (memo gets, nested structures)
            j = rng.randrange(len(data))
            data[i:i] = data[j:j + rng.randrange(1, 65)]
        else:  # truncate
            del data[i:]
    return data


def _mutate_zip_fields(data: bytearray, rng: random.Random) -> bytearray:
    """Change a size or compression field of a zip header (central or local)."""
    heads = [i for i in range(len(data) - 4) if data[i:i + 4] in (b'PK\x01\x02', b'PK\x03\x04')]
    if not heads:
        return _mutate_bytes(data, rng)
    h = rng.choice(heads)
    central = data[h:h + 4] == b'PK\x01\x02'
    field = rng.choice(('method', 'csize', 'usize', 'offset') if central else
                       ('method', 'csize', 'usize'))
    where = {'method': 10 if central else 8, 'csize': 20 if central else 18,
             'usize': 24 if central else 22, 'offset': 42}[field]
    if field == 'method':
        data[h + where:h + where + 2] = rng.choice((8, 12, 14, 99)).to_bytes(2, 'little')
    else:
        value = rng.choice(_INTERESTING + (rng.randrange(2 ** 32),)) & 0xFFFFFFFF
        data[h + where:h + where + 4] = value.to_bytes(4, 'little')
    return data


def mutant(seed: int, index: int, genuine: Dict[str, bytes]) -> bytes:
    """Case ``index`` of the run seeded ``seed`` (``genuine``: 'zip' and 'legacy' bytes)."""
    rng = random.Random(seed * 1_000_003 + index)
    kind = rng.random()
    if kind < 0.55:  # the pickle stream, re-zipped
        with zipfile.ZipFile(io.BytesIO(genuine['zip'])) as zf:
            records = {i.filename: zf.read(i) for i in zf.infolist()}
        name = next(n for n in records if n.endswith('/data.pkl'))
        records[name] = bytes(_mutate_bytes(bytearray(records[name]), rng))
        return _zip(records)
    if kind < 0.75:
        return bytes(_mutate_zip_fields(bytearray(genuine['zip']), rng))
    if kind < 0.9:
        return bytes(_mutate_bytes(bytearray(genuine['zip']), rng))
    return bytes(_mutate_bytes(bytearray(genuine['legacy']), rng))


def _worker(seed: int, start: int, stop: int, timeout: int, memory_mb: int) -> None:
    """Runs cases ``start..stop-1``, one JSON line per case (``start`` line first, so that
    the parent knows which case a crash belongs to)."""
    import copy
    import resource
    import signal

    from mmsniper.engine.safe_pickle import UnsafeCheckpointError, load_torch_file

    genuine = {'zip': genuine_checkpoint(), 'legacy': genuine_checkpoint(legacy=True)}
    with open('/proc/self/status') as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith('VmSize'))
    resource.setrlimit(resource.RLIMIT_AS, (vm + memory_mb * 2 ** 20,) * 2)

    class Hang(Exception):
        pass

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    for i in range(start, stop):
        data = mutant(seed, i, genuine)
        print(json.dumps({'start': i}), flush=True)
        t = time.perf_counter()
        signal.alarm(timeout)
        try:
            obj = load_torch_file(io.BytesIO(data), 'cpu', name=f'case {i}')
            copy.deepcopy(obj)
            repr(obj)
            result = 'loaded'
        except UnsafeCheckpointError:
            result = 'refused'
        except Hang:
            result = 'hang'
        except MemoryError:
            result = 'memory'
        except BaseException as e:  # noqa: BLE001  anything else is a finding
            result = f'error {type(e).__name__}: {str(e)[:200]}'
        finally:
            signal.alarm(0)
        print(json.dumps({'case': i, 'result': result,
                          'seconds': round(time.perf_counter() - t, 4)}), flush=True)


def run_fuzz(count: int = 1000, seed: int = 0, workers: int = 1, timeout: int = 10,
             memory_mb: int = 256, python: Optional[str] = None) -> dict:
    """Run ``count`` cases in ``workers`` subprocesses; returns the summary.

    Returns:
        dict: ``count``, ``seed``, ``loaded``, ``refused``, ``failures`` (list of
        ``{case, result}``: errors, hangs, memory, crashes), ``max_seconds`` (slowest
        case), ``wall_seconds``.
    """
    t0 = time.time()
    python = python or sys.executable
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    bounds = [count * k // workers for k in range(workers + 1)]
    pending = [(bounds[k], bounds[k + 1]) for k in range(workers) if bounds[k] < bounds[k + 1]]
    summary: dict = {'count': count, 'seed': seed, 'loaded': 0, 'refused': 0, 'failures': [],
                     'max_seconds': 0.0}
    running: List[tuple] = []
    while pending or running:
        while pending and len(running) < workers:
            start, stop = pending.pop(0)
            cmd = [python, '-c', 'import sys; from mmsniper.engine.checkpoint_fuzz import '
                   f'_worker; _worker({seed}, {start}, {stop}, {timeout}, {memory_mb})']
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=env)
            running.append((proc, start, stop))
        proc, start, stop = running.pop(0)
        try:
            out, err = proc.communicate(timeout=timeout * (stop - start) + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        current, done = None, set()
        for line in out.splitlines():
            rec = json.loads(line)
            if 'start' in rec:
                current = rec['start']
                continue
            done.add(rec['case'])
            current = None
            summary['max_seconds'] = max(summary['max_seconds'], rec['seconds'])
            if rec['result'] in ('loaded', 'refused'):
                summary[rec['result']] += 1
            else:
                summary['failures'].append({'case': rec['case'], 'result': rec['result']})
        if proc.returncode != 0:
            if current is None and not done:
                raise RuntimeError(f'fuzz worker failed to start:\n{err[-3000:]}')
            crashed = current if current is not None else max(done) + 1
            summary['failures'].append({'case': crashed, 'result':
                                        f'process died (status {proc.returncode})'})
            if crashed + 1 < stop:
                pending.append((crashed + 1, stop))
    summary['wall_seconds'] = round(time.time() - t0, 1)
    summary['failures'].sort(key=lambda f: f['case'])
    return summary
