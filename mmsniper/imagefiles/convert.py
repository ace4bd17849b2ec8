"""Convert the large images of a COCO-style data set to tiled pyramidal TIFFs, once.

Behind ``tools/dataset_converters/convert_large_images.py``; see
``docs/user_guides/large_images.md``.

For each image of the annotation file with more than ``min_pixels`` pixels, the file is
decoded as ``LoadImageFromFile`` decodes it (OpenCV, 8-bit BGR, EXIF orientation applied)
and written as ``OUT_DIR/<file_name>.tif`` (:func:`mmsniper.imagefiles.write_pyramid`):
levels 1, 2, 4, ... in 256x256 JPEG tiles, so that
:class:`~mmsniper.datasets.LoadChipWindow` reads only the tiles a chip needs at the level
it needs, and the fit level (the image resized to fit one chip: SNIPER's coarsest chip,
read as it is). Smaller images stay as they are (a whole decode costs them little).

What it writes:

- the pyramids (each written to a temporary name and renamed: a killed run never leaves
  half a file under the final name);
- ``OUT_ANN``: the annotation file, unchanged except that each converted image's
  ``file_name`` points at its pyramid (relative to the same image folder, so the config's
  ``data_prefix`` stays) and keeps the old name in ``mmsniper_source``;
- ``OUT_DIR/manifest.json``: per image, its source (path, size in bytes, mtime), status
  (``converted``, ``kept`` (small), ``bad``) and output, and the settings.

Resumable: a pyramid that exists, was made from the same source file (size and mtime,
recorded in the pyramid itself) with the same settings is not made again; a changed
source is converted again. Loading also checks the record, so a pyramid whose source has
changed since is refused, not read stale.

Frames: ORIGINAL pixels throughout (nothing is rescaled that the annotations see).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from ..annotations import size_mismatch
from ..chips.settings import SniperSettings
from ..utils.fileio import atomic_json, atomic_path
from . import (
    MAX_IMAGE_PIXELS,
    ImageFileError,
    decode,
    read_description,
    write_pyramid,
)
from .reader import _read_bytes, jpeg_quality, pil_pixel_limit_lifted
from .tiff import fit_level_size

MANIFEST = 'manifest.json'
#: Images with at most this many pixels are kept as they are: 4 chips of 512x512. Below
#: it a whole decode costs less than twice the tiles one chip reads (docs/reports/large_images.md).
DEFAULT_MIN_PIXELS = 4 * 512 * 512
#: The fit level's chip size: SniperSettings' default ``chip_size`` (512).
DEFAULT_FIT_CHIP = SniperSettings.chip_size
#: Quality of full-resolution tiles for sources that are not JPEG (or whose quality
#: cannot be read from their tables).
DEFAULT_QUALITY = 95


@dataclass
class ConversionSummary:
    """What :func:`convert_large_images` did.

    Attributes:
        converted (int): pyramids written by this run.
        resumed (int): pyramids already there and up to date.
        kept (int): images small enough to stay as they are.
        bad (list[str]): files skipped as unreadable / corrupt / of the wrong size
            (only with ``skip_bad``), ``'path: reason'``.
        out_ann (str), out_dir (str): what was written.
        source_bytes (int), pyramid_bytes (int): sizes of the converted sources and of
            their pyramids.
        seconds (float): wall time.
    """

    converted: int = 0
    resumed: int = 0
    kept: int = 0
    bad: list = field(default_factory=list)
    out_ann: str = ''
    out_dir: str = ''
    source_bytes: int = 0
    pyramid_bytes: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        text = (f'{self.converted} converted, {self.resumed} already up to date, {self.kept} '
                f'small images kept as they are, {len(self.bad)} bad')
        if self.bad:
            text += f' ({"; ".join(self.bad[:3])}{"; ..." if len(self.bad) > 3 else ""})'
        if self.source_bytes:
            text += (f'; pyramids {self.pyramid_bytes / 1e6:.1f} MB for '
                     f'{self.source_bytes / 1e6:.1f} MB of sources')
        return text + f'; {self.seconds:.1f} s'


def _settings(tile: int, compression: str, quality: Optional[int], level_quality: int,
              level_subsampling: str = '444', level_compression: Optional[str] = None,
              fit_chip: Optional[int] = DEFAULT_FIT_CHIP) -> dict:
    out = dict(tile=int(tile), compression=compression,
               quality=None if quality is None else int(quality),
               level_quality=int(level_quality), level_subsampling=level_subsampling,
               fit_chip=int(fit_chip or 0))
    if level_compression is not None:  # absent by default: older pyramids stay current
        out['level_compression'] = level_compression
    return out


def _jpeg_encoding(data: bytes) -> tuple[Optional[int], str]:
    """``(quality, subsampling)`` of a JPEG's bytes (IJG quality estimate; '420' or '444')."""
    from io import BytesIO

    from PIL import Image, JpegImagePlugin

    with pil_pixel_limit_lifted():
        try:
            with Image.open(BytesIO(data)) as im:
                q = jpeg_quality(getattr(im, 'quantization', None))
                sampling = JpegImagePlugin.get_sampling(im)
        except Exception:  # not parseable by PIL: decoded below or reported as bad
            return None, '444'
    return q, '420' if sampling == 2 else '444'


def _up_to_date(out_path: str, src: str, st: os.stat_result, settings: dict) -> bool:
    d = read_description(out_path)
    return bool(d) and d.get('source_size') == st.st_size and \
        d.get('source_mtime_ns') == st.st_mtime_ns and d.get('settings') == settings


def _convert_one(task: tuple) -> dict:
    """Convert one image (runs in a worker). Returns its manifest record."""
    (file_name, src, out_path, annotated, img_id, settings, min_pixels, max_pixels) = task
    rec: dict = dict(source=src, output=None, status='bad')
    try:
        st = os.stat(src)
    except OSError as e:
        rec['reason'] = f'cannot be read ({e.strerror or e})'
        return rec
    rec.update(source_size=st.st_size, source_mtime_ns=st.st_mtime_ns)
    aw, ah = annotated
    if aw and ah and float(aw) * float(ah) <= min_pixels:
        rec['status'] = 'kept'  # small by its annotation: not even decoded
        return rec
    if _up_to_date(out_path, src, st, settings):
        rec.update(status='resumed', output=out_path, pyramid_bytes=os.path.getsize(out_path))
        return rec
    try:
        data = _read_bytes(src)
        quality, sampling = settings['quality'], '444'
        if data[:3] == b'\xff\xd8\xff':
            own_q, sampling = _jpeg_encoding(data)
            quality = quality or own_q
        img = decode(data, src)
        del data
    except ImageFileError as e:
        rec['reason'] = str(e).split(': ', 1)[-1]
        return rec
    h, w = img.shape[:2]
    if max_pixels is not None and w * h > max_pixels:
        rec['reason'] = f'{w}x{h} is above max_image_pixels={max_pixels}'
        return rec
    problem = size_mismatch((w, h), annotated, src, img_id, advise=False)
    if problem:
        rec['reason'] = problem.split(': ', 1)[-1]
        return rec
    rec['size'] = [w, h]
    if w * h <= min_pixels:
        rec['status'] = 'kept'
        return rec
    with atomic_path(out_path) as tmp:
        write_pyramid(img, tmp, tile=settings['tile'], compression=settings['compression'],
                      quality=quality or DEFAULT_QUALITY,
                      level_quality=settings['level_quality'], subsampling=sampling,
                      level_subsampling=settings['level_subsampling'],
                      level_compression=settings.get('level_compression'),
                      fit_size=fit_level_size((w, h), settings['fit_chip'])
                      if settings['fit_chip'] else None,
                      description=dict(source=osp.relpath(src, osp.dirname(out_path)),
                                       source_size=st.st_size,
                                       source_mtime_ns=st.st_mtime_ns,
                                       source_file_name=file_name, settings=settings))
    rec.update(status='converted', output=out_path, pyramid_bytes=os.path.getsize(out_path))
    return rec


def _dump_json(obj: Any, path: str) -> None:
    atomic_json(path, obj)


def convert_large_images(ann_file: str, img_dir: str, out_dir: Optional[str] = None,
                         out_ann: Optional[str] = None, nproc: int = 1,
                         min_pixels: int = DEFAULT_MIN_PIXELS, tile: int = 256,
                         compression: str = 'jpeg', quality: Optional[int] = None,
                         level_quality: int = 95, level_subsampling: str = '444',
                         level_compression: Optional[str] = None,
                         fit_chip: Optional[int] = DEFAULT_FIT_CHIP, skip_bad: bool = False,
                         max_image_pixels: Optional[int] = MAX_IMAGE_PIXELS,
                         progress: bool = True) -> ConversionSummary:
    """Convert a COCO-style data set's large images to tiled pyramids (resumable).

    Args:
        ann_file (str): the COCO-style annotation file (``images`` with ``file_name``,
            ``width``, ``height``).
        img_dir (str): the folder ``file_name`` is relative to (the config's
            ``data_root`` + ``data_prefix.img``).
        out_dir (str, optional): where the pyramids go (``<file_name>.tif`` under it).
            Default: ``img_dir`` + ``'_pyramid'``, beside it.
        out_ann (str, optional): the annotation file to write. Default: ``ann_file``
            with ``_pyramid`` before ``.json``.
        nproc (int): worker processes. Each holds one decoded image and its next level
            (a 20000x20000 image: about 1.6 GB). Default 1.
        min_pixels (int): images with at most this many pixels stay as they are.
            Default ``4 * 512 * 512``.
        tile (int): tile side (multiple of 16). Default 256.
        compression (str): ``'jpeg'`` (default), ``'deflate'`` or ``'none'`` (lossless,
            larger, slower to read; see docs/reports/large_images.md).
        quality (int, optional): JPEG quality of the full-resolution level. Default: a
            JPEG source's own quality (estimated from its tables; re-encoding on the same
            grid then loses little) and its chroma subsampling, else 95.
        level_quality (int): JPEG quality of the reduced levels. Default 95.
        level_subsampling (str): their chroma subsampling, ``'444'`` (default) or
            ``'420'`` (faster to read, less faithful colour; docs/reports/large_images.md).
        level_compression (str, optional): the reduced levels' compression when not
            ``compression``'s; ``'none'``: raw, faster to read, as large as the pixels
            (docs/reports/large_images.md). Default: ``compression``.
        fit_chip (int | None): the chip size of the training config: each pyramid also
            stores the whole image resized to fit one such chip (``fit_chip / long
            side``, SNIPER's coarsest scale), so that chip is read as it is instead of
            being resampled from a factor-2 level (docs/reports/large_images.md: 2.5-4.4 grey
            levels from the decode-crop-resize chip otherwise). None or 0: no fit level.
            Default 512.
        skip_bad (bool): skip (and count) unreadable, truncated, corrupt or wrongly sized
            images instead of stopping at the first one; they keep their old
            ``file_name``. Default False.
        max_image_pixels (int | None): refuse larger images. Default ``2**30``.
        progress (bool): show an mmengine progress bar.

    Returns:
        ConversionSummary: counts, bad files, sizes.

    Raises:
        ImageFileError: (without ``skip_bad``) the first bad image, naming the file; the
            images converted before it are kept and recorded (a rerun resumes).
    """
    from mmengine.utils import ProgressBar

    t0 = time.perf_counter()
    img_dir = osp.normpath(img_dir)
    out_dir = osp.normpath(out_dir or img_dir + '_pyramid')
    if out_ann is None:
        stem, ext = osp.splitext(ann_file)
        out_ann = f'{stem}_pyramid{ext or ".json"}'
    if osp.abspath(out_ann) == osp.abspath(ann_file):
        raise ValueError(f'out_ann: {out_ann} is the input annotation file; write another')
    if nproc < 1:
        raise ValueError(f'nproc: expected >= 1, got {nproc}')
    if fit_chip is not None and (isinstance(fit_chip, bool) or int(fit_chip) < 0):
        raise ValueError(f'fit_chip: expected a chip size (int > 0) or 0/None, got {fit_chip!r}')
    settings = _settings(tile, compression, quality, level_quality, level_subsampling,
                         level_compression, fit_chip)
    with open(ann_file) as f:
        coco = json.load(f)
    images = coco.get('images')
    if not isinstance(images, list):
        raise ValueError(f'{ann_file}: no "images" list; expected a COCO-style file')
    os.makedirs(out_dir, exist_ok=True)
    tasks = []
    for im in images:
        name = im.get('mmsniper_source') or im['file_name']  # converting a converted file
        tasks.append((name, osp.join(img_dir, name), osp.join(out_dir, name + '.tif'),
                      (im.get('width'), im.get('height')), im.get('id'), settings,
                      int(min_pixels), max_image_pixels))
    summary = ConversionSummary(out_ann=out_ann, out_dir=out_dir)
    records: dict = {}
    manifest_path = osp.join(out_dir, MANIFEST)

    def save() -> None:
        _dump_json(dict(version=1, ann_file=osp.abspath(ann_file), img_dir=osp.abspath(img_dir),
                        settings=settings, images=records), manifest_path)

    bar = ProgressBar(len(tasks)) if progress and tasks else None
    last_save = time.monotonic()
    failure: Optional[ImageFileError] = None
    if nproc > 1:
        from multiprocessing import Pool
        pool = Pool(nproc)
        results = pool.imap_unordered(_convert_one, tasks)
    else:
        pool, results = None, map(_convert_one, tasks)
    try:
        for rec in results:
            name = osp.relpath(rec['source'], img_dir)
            records[name] = {k: v for k, v in rec.items() if k != 'source'}
            records[name]['source'] = name
            if rec['output']:
                records[name]['output'] = osp.relpath(rec['output'], out_dir)
            status = rec['status']
            if status == 'bad':
                text = f'{rec["source"]}: {rec.get("reason")}'
                summary.bad.append(text)
                if not skip_bad:
                    failure = ImageFileError(rec['source'], f'{rec.get("reason")} (rerun '
                                             'with --skip-bad to skip and count such files)')
                    break
            elif status == 'kept':
                summary.kept += 1
            else:
                summary.converted += status == 'converted'
                summary.resumed += status == 'resumed'
                summary.source_bytes += rec['source_size']
                summary.pyramid_bytes += rec['pyramid_bytes']
            if bar is not None:
                bar.update()
            if time.monotonic() - last_save > 30:
                save()
                last_save = time.monotonic()
    finally:
        if pool is not None:
            pool.terminate() if failure is not None else pool.close()
            pool.join()
        save()
    if failure is not None:
        raise failure
    # The new annotation file: converted images point at their pyramid.
    for im in images:
        name = im.get('mmsniper_source') or im['file_name']
        rec = records.get(osp.relpath(osp.join(img_dir, name), img_dir))
        if rec and rec['status'] in ('converted', 'resumed'):
            im['file_name'] = osp.relpath(osp.join(out_dir, rec['output']), img_dir)
            im['mmsniper_source'] = name
        elif 'mmsniper_source' in im:
            im['file_name'] = im.pop('mmsniper_source')
    if osp.dirname(out_ann):
        os.makedirs(osp.dirname(out_ann), exist_ok=True)
    _dump_json(coco, out_ann)
    summary.seconds = time.perf_counter() - t0
    return summary
