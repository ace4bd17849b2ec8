"""Benchmark bodies: what a training chip costs to load, inference memory, and the helpers
every benchmark tool shares (:func:`rss_mb`, :func:`peak_rss_mb`,
:func:`channels_last_inputs`).

The loading benchmark is behind ``tools/analysis_tools/benchmark_loading.py`` (see
``docs/reports/large_images.md``): what one training chip costs to load, by image size,
file kind and level; old vs new path.

Paths (each a real pipeline, both ending in :class:`~mmsniper.datasets.ChipGenerator`):

- ``old``: ``LoadImageFromFile`` (the whole file decoded) then the chip cut;
- ``new``: :class:`~mmsniper.datasets.LoadChipWindow` (a pyramid: the window's tiles at
  the chip's level; a JPEG: reduced decoding; a PNG: whole decode) then the same cut.

Files (generated in a temporary folder, all the same synthetic picture per size): ``jpeg``
(quality 90, 4:2:0), ``png`` (compression level 1) and ``tiff``, the pyramid that
:func:`~mmsniper.imagefiles.convert.convert_large_images` makes of the JPEG.

Levels: chip scales ``1, 1/2, 1/4, ...`` while a 512 chip does not hold the whole scaled
image, then the scale at which it does (``512 / long side``, read from the pyramid's fit
level), and SNIPER's default training scales for the image (not powers of 2: resampled
from a level; ``sniper=False`` leaves them out). Each (size, file, path) runs
in a forked worker (single-threaded OpenCV, as mmengine sets data-loader workers) that
reports chips per second per level, the mean and PSNR of its chips' difference from the
old path's chips of the same tickets, and its peak resident memory: the increase over the
worker's start (what loading adds) and the absolute peak (which includes the forked
parent's pages, torch and mmdet included). The OS file cache is warm (files just
written): disk reads are not measured.
"""
from __future__ import annotations

import math
import os
import os.path as osp
import resource
import time
from typing import Any, Optional, Sequence

import cv2
import numpy as np

SIZES = ((640, 480), (4000, 3000), (10000, 8000), (20000, 20000))
FORMATS = ('jpeg', 'png', 'tiff', 'tiff-raw', 'tiff-none')
#: ``tiff-raw``: the same pyramid with its reduced levels uncompressed
#: (``convert_large_images.py --level-compression none``); its level 0 is the ``tiff``
#: file's, so its old path is not measured again (the ``tiff`` file's is used).
RAW_LEVELS = 'tiff-raw'
#: ``tiff-none``: every level uncompressed, level 0 too (``--compression none``: 4 bytes of
#: disk per pixel, 1.6 GB for 20000x20000); not in the default run.
ALL_RAW = 'tiff-none'
DEFAULT_FORMATS = ('jpeg', 'png', 'tiff', 'tiff-raw')
CHIP = 512
#: Images with at least this many pixels: the old path (and files the new path decodes
#: whole) measured at the finest and coarsest level only (a chip costs a whole decode,
#: seconds, whatever the level), unless all levels are asked for.
HUGE_PIXELS = 50_000_000


def synthetic_image(w: int, h: int, seed: int = 0, strip: int = 1024) -> np.ndarray:
    """A photo-like test picture: 1/f-like colour texture, many small sharp rectangles
    (anti-aliased), sensor-like grain. About 1.5 bits per pixel as a quality-90 JPEG.

    Made in strips of rows, so memory is the result plus one strip (20000x20000: 1.2 GB).

    Args:
        w, h (int): size in pixels.
        seed (int): the picture.

    Returns:
        ndarray[h, w, 3] uint8 BGR.
    """
    rng = np.random.default_rng(seed)
    # texture on a grid of 8-pixel cells, coarse octaves added from the coarsest up
    gw, gh = -(-w // 8) + 3, -(-h // 8) + 3
    field = None
    for div, amp in ((64, 48.0), (16, 28.0), (4, 16.0), (1, 9.0)):
        cur = rng.normal(0, amp, (gh // div + 2, gw // div + 2, 3)).astype(np.float32)
        if field is not None:
            cur += cv2.resize(field, (cur.shape[1], cur.shape[0]),
                              interpolation=cv2.INTER_LINEAR)
        field = cur
    field = field[:gh, :gw] + rng.uniform(60, 190, 3).astype(np.float32)
    n = max(1, int(w * h / 4000))
    rects = np.stack([rng.uniform(0, w, n), rng.uniform(0, h, n), rng.uniform(3, 40, n),
                      rng.uniform(0.3, 1.5, n)], 1)
    order = np.argsort(rects[:, 1])
    rects = rects[order]
    colors = rng.uniform(0, 255, (n, 3))[order]
    grain = rng.normal(0, 3.0, (251, 253, 3)).astype(np.float32)
    out = np.empty((h, w, 3), np.uint8)
    for r0 in range(0, h, strip):
        r1 = min(h, r0 + strip)
        a, b = r0 // 8, -(-r1 // 8) + 2
        up = cv2.resize(field[a:b + 1], (field.shape[1] * 8, (b + 1 - a) * 8),
                        interpolation=cv2.INTER_LINEAR)
        acc = np.ascontiguousarray(up[8:8 + r1 - r0, 8:8 + w])
        lo, hi = np.searchsorted(rects[:, 1], [r0 - 100, r1])
        for (x, y, s, q), c in zip(rects[lo:hi], colors[lo:hi]):
            cv2.rectangle(acc, (int(x * 16), int((y - r0) * 16)),
                          (int((x + s) * 16), int((y + s * q - r0) * 16)), c.tolist(), -1,
                          cv2.LINE_AA, 4)
        rows = grain[np.arange(r0, r1) % grain.shape[0]]
        for c0 in range(0, w, grain.shape[1]):
            acc[:, c0:c0 + grain.shape[1]] += rows[:, :w - c0]
        out[r0:r1] = np.clip(acc, 0, 255, out=acc)
    return out


def levels(size: tuple[int, int], chip: int = CHIP, sniper: bool = True) -> list[float]:
    """Chip scales ``1, 1/2, ...`` while a chip does not hold the whole scaled image,
    then the one at which it does (``chip / long side``); with ``sniper``, also SNIPER's
    default training scales for this image (:func:`sniper_scales`), finest first."""
    long_side = max(size)
    out, s = [], 1.0
    while long_side * s > chip:
        out.append(s)
        s /= 2
    out.append(min(1.0, chip / long_side))
    if sniper:
        out += sniper_scales(size)
    return sorted(set(out), reverse=True)


def sniper_scales(size: tuple[int, int]) -> list[float]:
    """The factors below 1 of ``SniperSettings()``'s default training scales for a ``(W,
    H)`` image (``(1400, 2000)``, ``(800, 1280)``, ``(-1, 512)``): not powers of 2, so
    their chips are resampled from a level (the last one is ``chip / long side``). Factors
    of 1 or more read full resolution, as scale 1 does."""
    from ..chips.scales import scale_factors
    from ..chips.settings import SniperSettings

    return [float(f) for f in scale_factors(size, SniperSettings().scales) if f < 1]


def tickets(size: tuple[int, int], scale: float, n: int, seed: int) -> list:
    """``n`` chip tickets at ``scale``: random whole-pixel 512 windows of the scaled image
    (the edge rule's boxes, :func:`mmsniper.chips.chip.window_box`)."""
    from mmsniper.chips import Chip
    from mmsniper.chips.chip import window_box
    from mmsniper.chips.scales import scaled_image_size
    from mmsniper.datasets.tickets import ChipTicket

    rng = np.random.default_rng(seed)
    sw, sh = scaled_image_size(size, scale)
    out = []
    for _ in range(n):
        x1 = int(rng.integers(0, max(1, sw - CHIP + 1)))
        y1 = int(rng.integers(0, max(1, sh - CHIP + 1)))
        win = (x1, y1, min(sw, x1 + CHIP), min(sh, y1 + CHIP))
        out.append(ChipTicket(0, Chip(0, scale, window_box(win, scale, size)),
                              (0.0, math.inf), CHIP, 1.0, 0.0))
    return out


def make_files(folder: str, size: tuple[int, int], formats: Sequence[str],
               seed: int = 0, level_quality: int = 95, level_subsampling: str = '444') -> dict:
    """Write the test files of one size (run it in a child process: the picture is big).

    Returns:
        dict: ``{format: path}``.
    """
    from ..imagefiles import write_pyramid
    from ..imagefiles.convert import _jpeg_encoding
    from ..imagefiles.tiff import fit_level_size

    w, h = size
    stem = osp.join(folder, f'img_{w}x{h}')
    jpg = stem + '.jpg'
    want = {'jpeg': jpg, 'png': stem + '.png', 'tiff': stem + '.tif',
            RAW_LEVELS: stem + '.rawlevels.tif', ALL_RAW: stem + '.raw.tif'}
    tag = stem + f'.q{level_quality}-{level_subsampling}-seed{seed}-fit'  # what they are
    if osp.exists(tag) and all(osp.exists(want[f]) for f in formats):
        return {f: want[f] for f in formats}  # made before in this folder (--dir)
    for path in [tag] + [want[f] for f in want if f not in formats]:
        if osp.exists(path):  # made from the JPEG about to be replaced: stale
            os.remove(path)
    img = synthetic_image(w, h, seed)
    paths = {}
    if not cv2.imwrite(jpg, img, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise OSError(f'could not write {jpg}')
    if 'jpeg' in formats:
        paths['jpeg'] = jpg
    if 'png' in formats:
        paths['png'] = stem + '.png'
        if not cv2.imwrite(paths['png'], img, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f'could not write {paths["png"]}')
    del img
    pyramids = [(f, c, lc) for f, c, lc in (('tiff', 'jpeg', None), (RAW_LEVELS, 'jpeg', 'none'),
                                           (ALL_RAW, 'none', None)) if f in formats]
    if pyramids:  # from the JPEG, as the converter makes them: decoded once for both
        with open(jpg, 'rb') as f:
            q, sampling = _jpeg_encoding(f.read())
        st = os.stat(jpg)
        src = cv2.imread(jpg, cv2.IMREAD_COLOR)
    for fmt, compression, level_compression in pyramids:
        paths[fmt] = want[fmt]
        write_pyramid(src, paths[fmt], compression=compression, quality=q or 90,
                      subsampling=sampling,
                      level_quality=level_quality, level_subsampling=level_subsampling,
                      level_compression=level_compression,
                      fit_size=fit_level_size(size, CHIP),  # as the converter's default
                      description=dict(source=osp.basename(jpg), source_size=st.st_size,
                                       source_mtime_ns=st.st_mtime_ns))
    open(tag, 'w').close()
    return paths


def rss_mb() -> float:
    """This process's resident memory now, MiB (Linux: ``/proc/self/statm``)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MiB (``ru_maxrss``; Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def channels_last_inputs(module: Any, args: Any, out: dict) -> dict:
    """Forward hook for a data preprocessor: its batch ``out['inputs']`` (Tensor[N, C, H, W])
    in ``torch.channels_last`` memory format, for a model moved to channels-last (oneDNN's
    CPU convolutions run faster on it; mmcv's CPU RoIAlign does not read it correctly)."""
    import torch

    out['inputs'] = out['inputs'].contiguous(memory_format=torch.channels_last)
    return out


def _worker(job: dict) -> dict:
    """Measure one (size, file, path) in this (forked) process."""
    from mmcv.transforms import LoadImageFromFile
    from mmdet.structures.bbox import HorizontalBoxes

    from ..datasets import ChipGenerator, LoadChipWindow

    cv2.setNumThreads(0)  # as mmengine sets data-loader workers: one thread
    start_rss = rss_mb()
    loader = LoadImageFromFile() if job['path'] == 'old' else \
        LoadChipWindow(oversample=job.get('oversample', 1))
    cut = ChipGenerator()
    size = tuple(job['size'])
    rows = []
    for scale in job['levels']:
        chips, times = [], []
        t_level = time.perf_counter()
        # seeded by the scale: the old and new paths cut the same chips whatever levels
        # each measures (a huge image's old path measures fewer)
        for ticket in tickets(size, scale, job['max_chips'], seed=round(scale * 1e6) + 7):
            results = dict(img_path=job['file'], width=size[0], height=size[1], chip=ticket,
                           gt_bboxes=HorizontalBoxes(np.zeros((0, 4), np.float32)),
                           gt_bboxes_labels=np.zeros(0, np.int64),
                           gt_ignore_flags=np.zeros(0, bool))
            t = time.perf_counter()
            out = cut(loader(results))
            times.append(time.perf_counter() - t)
            if len(chips) < job['keep_chips']:
                chips.append(out['img'])
            if time.perf_counter() - t_level > job['min_seconds'] and \
                    len(times) >= job['min_chips']:
                break
        # the first chip of a level opens the file (header, tile tables): kept in the mean
        rows.append(dict(scale=scale, chips=len(times), ms=1000 * float(np.mean(times)),
                         ms_min=1000 * float(np.min(times)), images=chips))
    return dict(job, rows=rows, rss_start_mb=start_rss, rss_peak_mb=peak_rss_mb(),
                rss_added_mb=peak_rss_mb() - start_rss)


def _in_child(fn: Any, arg: Any) -> Any:
    """``fn(arg)`` in a forked child (its own peak memory; the parent's pages shared)."""
    import multiprocessing as mp

    with mp.get_context('fork').Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, (arg,))


def _make_files_job(arg: tuple) -> dict:
    return make_files(*arg)


def run_benchmark(folder: str, sizes: Sequence[tuple[int, int]] = SIZES,
                  formats: Sequence[str] = DEFAULT_FORMATS, max_chips: int = 20,
                  min_seconds: float = 1.0, all_levels: bool = False,
                  level_quality: int = 95, level_subsampling: str = '444',
                  sniper: bool = True, oversample: int = 1,
                  progress: Optional[Any] = print) -> dict:
    """Generate the files and measure every (size, file, path, level).

    Args:
        folder (str): where the files are written (reused: existing files are kept).
        sizes (Sequence[tuple[int, int]]): image sizes ``(w, h)``.
        formats (Sequence[str]): some of :data:`FORMATS` (``'tiff-raw'``: after
            ``'tiff'`` to reuse its old-path chips).
        max_chips (int): chips per level at most.
        min_seconds (float): per level, stop cutting chips after this long (at least
            one chip; one only for a whole decode of a huge image).
        all_levels (bool): measure every level of huge images on the old path too.
        level_quality, level_subsampling: the pyramid's reduced levels (as the
            converter's options).
        sniper (bool): also cut chips at SNIPER's default training scales
            (:func:`sniper_scales`).
        oversample (int): the new path's ``LoadChipWindow(oversample=...)``.
        progress (callable | None): called with a line per step.

    Returns:
        dict: ``sizes``, ``formats``, ``jobs`` (one per size, file, path: ``rows`` per
        level with ``scale``, ``chips``, ``ms``, ``mad``, ``psnr``; memory), ``seconds``.
    """
    t0 = time.perf_counter()
    os.makedirs(folder, exist_ok=True)
    say = progress or (lambda *_: None)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f'formats: expected some of {FORMATS}, got {bad}')
    formats = [f for f in FORMATS if f in formats]  # tiff before tiff-raw
    jobs = []
    for size in sizes:
        size = (int(size[0]), int(size[1]))
        t = time.perf_counter()
        paths = _in_child(_make_files_job, (folder, size, tuple(formats), 0, level_quality,
                                            level_subsampling))
        say(f'{size[0]}x{size[1]}: files written in {time.perf_counter() - t:.1f} s')
        snip = sniper_scales(size) if sniper else []
        lv = levels(size, sniper=sniper)
        huge = size[0] * size[1] >= HUGE_PIXELS
        tiff_old = None  # the tiff file's old-path chips, per level
        for fmt in formats:
            old = None
            for path in ('old', 'new'):
                if fmt == RAW_LEVELS and path == 'old' and 'tiff' in formats:
                    old = tiff_old  # same level 0, same decode: measured once
                    continue
                whole = path == 'old' or fmt == 'png'  # decodes the whole file per chip
                # a huge image's whole decodes: the finest and coarsest level, and SNIPER's
                # scales (their chips' differences are the fidelity evidence)
                use = sorted({lv[0], lv[-1], *snip}, reverse=True) \
                    if huge and whole and not all_levels else lv
                job = dict(size=size, format=fmt, path=path, file=paths[fmt], levels=use,
                           max_chips=1 if huge and whole else max_chips, min_chips=1,
                           min_seconds=min_seconds, keep_chips=2, oversample=oversample)
                t = time.perf_counter()
                res = _in_child(_worker, job)
                say(f'  {fmt} {path}: {time.perf_counter() - t:.1f} s, peak RSS '
                    f'+{res["rss_added_mb"]:.0f} MB')
                if path == 'old':
                    old = {r['scale']: r['images'] for r in res['rows']}
                    if fmt == 'tiff':
                        tiff_old = old
                for r in res['rows']:
                    ref = (old or {}).get(r['scale'])
                    mads, mses = [], []
                    for a, b in zip(ref or [], r['images']):
                        d = a.astype(np.float64) - b
                        mads.append(float(np.abs(d).mean()))
                        mses.append(float((d ** 2).mean()))
                    r['mad'] = max(mads) if mads else None
                    r['psnr'] = (10 * math.log10(255 ** 2 / max(max(mses), 1e-12))
                                 if mses else None)
                for r in res['rows']:
                    r.pop('images')
                jobs.append(res)
    # The reference chip (640x480 JPEG, old path) again at the end: the machine's load
    # changes during a run, and the ratios are taken to the lower of the two.
    ref = [j for j in jobs if tuple(j['size']) == (640, 480) and j['format'] == 'jpeg'
           and j['path'] == 'old']
    repeat = None
    if ref:
        repeat = _in_child(_worker, {k: v for k, v in ref[0].items() if k in (
            'size', 'format', 'path', 'file', 'levels', 'max_chips', 'min_chips',
            'min_seconds', 'keep_chips')})
        say(f'  reference again: {repeat["rows"][0]["ms"]:.2f} ms/chip (first: '
            f'{ref[0]["rows"][0]["ms"]:.2f})')
        repeat = repeat['rows'][0]['ms']
    return dict(sizes=[list(s) for s in sizes], formats=list(formats), jobs=jobs,
                reference_repeat_ms=repeat, sniper_scales={
                    f'{w}x{h}': sniper_scales((w, h)) for w, h in sizes} if sniper else {},
                level_quality=level_quality, level_subsampling=level_subsampling,
                oversample=oversample, seconds=time.perf_counter() - t0, cpu_count=os.cpu_count(),
                load_average=list(os.getloadavg()))


def format_table(result: dict) -> str:
    """The results as Markdown: per size, file and level, ms per chip (old / new),
    the speed-up, new vs the 640x480 JPEG old-path chip, the new chips' difference from
    the old ones (mean absolute, grey levels; PSNR dB); then peak memory per worker."""
    by = {(tuple(j['size']), j['format'], j['path']): j for j in result['jobs']}
    base = by.get(((640, 480), 'jpeg', 'old'))
    base_ms = base['rows'][0]['ms'] if base else None
    lines = []
    if base_ms:
        first = base_ms
        if result.get('reference_repeat_ms'):
            base_ms = min(base_ms, result['reference_repeat_ms'])
        if result.get('oversample', 1) > 1:
            lines.append(f'New path: LoadChipWindow(oversample={result["oversample"]}).\n')
        lines.append(f'Reference: a 512x512 chip of a 640x480 JPEG on the old path costs '
                     f'{base_ms:.2f} ms (scale 1; the lower of {first:.2f} ms at the start '
                     f'and {result.get("reference_repeat_ms") or first:.2f} ms at the end).\n')
    lines.append('Scales marked * are SNIPER\'s default training scales for the image; level '
                 '"fit" is the pyramid\'s fit level (the whole image resized to one chip).\n')
    lines += ['| image | file | scale | level k | old ms/chip | new ms/chip | old/new | '
              'new vs 640x480 JPEG | new vs old chip: mean abs diff, PSNR |',
              '|---|---|---|---|---|---|---|---|---|']
    from ..imagefiles import level_factor
    from ..imagefiles.tiff import fit_level_size

    for size in result['sizes']:
        size = tuple(size)
        for fmt in result['formats']:
            old, new = by.get((size, fmt, 'old')), by.get((size, fmt, 'new'))
            if fmt == RAW_LEVELS and old is None:
                old = by.get((size, 'tiff', 'old'))
            if new is None:
                continue
            old_rows = {r['scale']: r for r in (old or {}).get('rows', [])}
            factors = (1, 2, 4, 8) if fmt == 'jpeg' else (1,) if fmt == 'png' else \
                (1, 2, 4, 8, 16, 32, 64, 128)
            marked = result.get('sniper_scales', {}).get(f'{size[0]}x{size[1]}', [])
            fit = fit_level_size(size, CHIP) if fmt.startswith('tiff') else None
            for r in new['rows']:
                o = old_rows.get(r['scale'])
                k = level_factor(r['scale'] * result.get('oversample', 1), factors)
                if fit is not None and r['scale'] == CHIP / max(size):
                    k = 'fit'
                diff = ('0 (identical)' if r.get('mad') == 0.0 else
                        f'{r["mad"]:.2f}, {r["psnr"]:.1f} dB' if r.get('mad') is not None
                        else '-')
                lines.append(
                    f'| {size[0]}x{size[1]} | {fmt} | {r["scale"]:.4g}'
                    + ('*' if any(abs(r['scale'] - m) < 1e-12 for m in marked) else '')
                    + f' | {k} | '
                    + (f'{o["ms"]:.1f}' if o else '-') + f' | {r["ms"]:.1f} | '
                    + (f'{o["ms"] / r["ms"]:.1f}x' if o else '-') + ' | '
                    + (f'{r["ms"] / base_ms:.2f}x' if base_ms else '-') + f' | {diff} |')
    lines += ['', '| image | file | old path: peak RSS added / absolute (MB) | new path: '
              'peak RSS added / absolute (MB) |', '|---|---|---|---|']
    for size in result['sizes']:
        size = tuple(size)
        for fmt in result['formats']:
            cells = []
            for path in ('old', 'new'):
                j = by.get((size, fmt, path))
                cells.append(f'{j["rss_added_mb"]:.0f} / {j["rss_peak_mb"]:.0f}' if j else '-')
            lines.append(f'| {size[0]}x{size[1]} | {fmt} | {cells[0]} | {cells[1]} |')
    la = result.get('load_average')
    lines.append('')
    lines.append(f'{result["seconds"]:.0f} s in all on {result.get("cpu_count")} cores'
                 + (f', load average at the end {la[0]:.1f} (other processes running)'
                    if la else '') + '.')
    return '\n'.join(lines)


def _no_detections() -> Any:
    """A stand-in detector for memory measurements: finds nothing, holds no weights."""
    import torch

    class NoDetections(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.chips = 0

        def test_step(self, data: dict) -> list:
            from mmengine.structures import InstanceData

            out = []
            for sample in data['data_samples']:
                self.chips += 1
                sample.pred_instances = InstanceData(
                    bboxes=torch.zeros((0, 4)), scores=torch.zeros(0),
                    labels=torch.zeros(0, dtype=torch.long))
                out.append(sample)
            return out

    return NoDetections()


def _inference_job(job: dict) -> dict:
    """One image through the SNIPER test pyramid (stand-in detector) in this process."""
    import torch
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope

    from ..datasets import PYRAMID_META_KEYS
    from ..models import SniperTTAModel

    cv2.setNumThreads(0)
    start_rss = rss_mb()
    init_default_scope('mmdet')
    load = dict(type='LoadImageFromFile') if job['path'] == 'old' else \
        dict(type='LoadImageForPyramid')
    views = [dict(type='PyramidResize', scale=s, level=i, max_pixels=2048 * 2048,
                  test_range=(-1, -1)) for i, s in enumerate(job['scales'])]
    pipe = Compose([load, dict(type='TestTimeAug', transforms=[
        views, [dict(type='RandomFlip', prob=0.)],
        [dict(type='PackDetInputs', meta_keys=PYRAMID_META_KEYS)]])])
    det = _no_detections()
    model = SniperTTAModel(module=det, merger=dict(type='NMSMerger'),
                           chip_cfg=dict(chip_size=1024, overlap=128, batch_size=4))
    t = time.perf_counter()
    with torch.no_grad():
        model.test_step(pseudo_collate([pipe(dict(img_path=job['file'], img_id=0))]))
    return dict(job, seconds=time.perf_counter() - t, chips=det.chips,
                rss_start_mb=start_rss, rss_peak_mb=peak_rss_mb(),
                rss_added_mb=peak_rss_mb() - start_rss)


def inference_memory(folder: str, size: tuple[int, int] = (20000, 20000),
                     formats: Sequence[str] = ('jpeg', 'tiff'),
                     scales: Sequence[float] = (1.0, 0.25, 0.05),
                     progress: Optional[Any] = print) -> list:
    """Peak memory of SNIPER pyramid inference on one large image, old vs new loading.

    ``old``: ``LoadImageFromFile`` (the image decoded whole, copied per view);
    ``new``: ``LoadImageForPyramid`` (:func:`mmsniper.apis.inference.infer`'s default).
    Views at ``scales`` (``PyramidResize``, ``max_pixels`` 2048x2048: larger levels run as
    1024 chip grids, overlap 128); a stand-in detector that finds nothing, so the model's
    own memory (weights, one chip batch's activations) is NOT included.

    Returns:
        list[dict]: per (file, path): ``seconds``, ``chips``, ``rss_added_mb``,
        ``rss_peak_mb``.
    """
    say = progress or (lambda *_: None)
    os.makedirs(folder, exist_ok=True)
    paths = _in_child(_make_files_job, (folder, tuple(size), tuple(formats)))
    out = []
    for fmt in formats:
        for path in ('old', 'new'):
            res = _in_child(_inference_job, dict(file=paths[fmt], format=fmt, path=path,
                                                 size=list(size), scales=list(scales)))
            say(f'  inference {fmt} {path}: {res["seconds"]:.1f} s, {res["chips"]} chips, '
                f'peak RSS +{res["rss_added_mb"]:.0f} MB ({res["rss_peak_mb"]:.0f} MB)')
            out.append(res)
    return out
