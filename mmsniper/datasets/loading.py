"""``LoadChipWindow``: load only the part of an image file a chip needs.

The training pipeline keeps its shape; the first step changes::

    LoadChipWindow -> LoadAnnotations -> ChipGenerator -> RandomFlip -> PackDetInputs

The interface with :class:`~mmsniper.datasets.ChipGenerator` (both sides use
:mod:`mmsniper.imagefiles.windows`, so they agree on the window by construction):

- ``results['img']`` holds LEVEL pixels of a window, ``results['img_window'] = (x0, y0, k)``
  says where: the array's pixel ``(i, j)`` covers ORIGINAL ``[x0 + j*k, x0 + (j+1)*k) x
  [y0 + i*k, y0 + (i+1)*k)``. ``ChipGenerator`` cuts the chip from it as it would from the
  whole image, reading its crop at ``k``; ``(0, 0, 'fit')``: ``img`` is the whole image
  resized to the chip's own size (a pyramid's fit level), which ``ChipGenerator`` cuts as
  its own resize;
- ``results['ori_shape']`` is the FILE's full ``(H, W)`` (from its header, EXIF
  orientation applied), which ``ChipGenerator`` checks against the annotated
  ``height``/``width``;
- without a ticket (simple mode, no sampler) the whole image is loaded at ORIGINAL
  resolution and no ``img_window`` is set: exactly ``LoadImageFromFile``'s output.
"""
from __future__ import annotations

import logging
import os.path as osp
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmengine.logging import print_log

from ..annotations import size_mismatch
from ..imagefiles import (
    MAX_IMAGE_PIXELS,
    ImageFileError,
    crop_window,
    decode,
    level_factor,
    level_slice,
)
from ..imagefiles.reader import SOURCES, StaleImageError, limit_heap_growth
from ..imagefiles.tiff import TiffFormatError
from ..imagefiles.windows import reads_fit_level
from .tickets import ChipTicket


@TRANSFORMS.register_module()
class LoadChipWindow(BaseTransform):
    """Read the window of the image file that the ticket's chip is cut from, at the
    coarsest stored resolution that is still at least the chip's scale.

    What that costs depends on the file (chosen by content, not extension; see
    ``docs/reports/large_images.md`` for measurements):

    - a tiled pyramid written by ``tools/dataset_converters/convert_large_images.py``:
      only the tiles under the window, from the level with factor ``k = 2^i <= 1 /
      scale`` -- a chip costs about what its own pixels cost, whatever the image's size;
      SNIPER's coarsest chip (the whole image at ``chip / long side``) from the pyramid's
      fit level when it has one (the whole image resized to that chip, as ChipGenerator
      would resize it);
    - a JPEG: decoded whole, at 1/2, 1/4 or 1/8 of its size when the chip's scale allows
      (``reduced_jpeg``; libjpeg's DCT scaling), then cut;
    - anything else: decoded whole, then cut (what ``LoadImageFromFile`` costs).

    Decoding follows ``LoadImageFromFile``'s defaults (OpenCV, ``color``: 8-bit BGR, EXIF
    orientation applied). A pyramid whose source file changed since its conversion is
    refused (naming both files), not read stale. A truncated or corrupt file stops the
    run with an error naming it (``tools/analysis_tools/check_dataset.py`` finds them all
    beforehand; the converter can skip and count them); with ``skip_bad=True`` the file is
    logged and the transform returns None, and ``SniperDataset`` serves a chip of another
    image in its place and counts it.

    Required Keys:

    - img_path (str)
    - chip (ChipTicket, optional): the chip to read for (see ``SniperDataset``)
    - width, height (optional): the annotated size, checked against the file's

    Modified Keys:

    - img (ndarray[h, w, 3] uint8): LEVEL pixels of the window (the whole ORIGINAL image
      when there is no ticket)
    - img_shape (tuple): ``img.shape[:2]``
    - ori_shape (tuple): ``(H, W)`` of the whole file, ORIGINAL pixels

    Added Keys:

    - img_window (tuple): ``(x0, y0, k)``: ``img`` is level ``k`` from ORIGINAL ``(x0, y0)``
      on; or ``(0, 0, 'fit')``: ``img`` is the whole image already resized to the chip's
      size (a pyramid's fit level; SCALED pixels). Only with a ticket.

    Args:
        reduced_jpeg (bool): decode JPEGs at 1/2, 1/4, 1/8 when the chip's scale allows.
            Default True.
        max_image_pixels (int | None): refuse files with more pixels (``W * H``), naming
            the file and this setting. Default ``2**30`` (OpenCV's own decoding limit).
            PIL's smaller decompression-bomb limit (~179 MP) is lifted only while this
            loader reads a JPEG header, never process-wide.
        backend_args (dict, optional): as ``LoadImageFromFile``'s; with a non-local
            backend the file is fetched whole and decoded whole (no windows).
        skip_bad (bool): a missing, unreadable, truncated or corrupt file (an
            ``ImageFileError`` or a damaged tiled pyramid) is logged and skipped (the
            transform returns None) instead of stopping the run. A pyramid older than its
            source still stops it (that is a stale conversion, not a bad image). Default
            False.
        oversample (int): 1 or 2: with 2, read the level for twice the chip's scale (one
            level finer than needed), which ``ChipGenerator`` low-passes before the
            bilinear pass (:func:`~mmsniper.imagefiles.windows.prefilter_for_scale`).
            Chips from a pyramid were then within 1.5 grey levels of the decode-crop-resize
            chip at every level we measured (with 1: up to 2.4 from raw levels, 3.3 from
            JPEG levels), for 2-6x the time per chip from raw levels and 8-30x from JPEG
            levels (docs/reports/large_images.md, "Fidelity"). SNIPER's coarsest chip comes from
            the pyramid's fit level either way. Default 1.
    """

    def __init__(self, reduced_jpeg: bool = True,
                 max_image_pixels: Optional[int] = MAX_IMAGE_PIXELS,
                 backend_args: Optional[dict] = None, skip_bad: bool = False,
                 oversample: int = 1) -> None:
        if oversample not in (1, 2) or isinstance(oversample, bool):
            raise ValueError(f'LoadChipWindow: oversample must be 1 or 2, got {oversample!r}')
        self.oversample = int(oversample)
        self.skip_bad = bool(skip_bad)
        self.reduced_jpeg = bool(reduced_jpeg)
        if max_image_pixels is not None and (isinstance(max_image_pixels, bool) or
                                             not int(max_image_pixels) > 0):
            raise ValueError(f'LoadChipWindow: max_image_pixels must be a positive int or '
                             f'None, got {max_image_pixels!r}')
        self.max_image_pixels = None if max_image_pixels is None else int(max_image_pixels)
        self.backend_args = backend_args.copy() if backend_args else None

    def _remote(self, results: dict) -> dict:
        from mmengine import fileio

        path = results['img_path']
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except Exception as e:  # whatever the backend raises: the file is not there
            raise ImageFileError(path, f'cannot be fetched ({type(e).__name__}: {e})') from e
        img = decode(data, path)
        results.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return results

    def transform(self, results: dict) -> Optional[dict]:
        if not self.skip_bad:
            return self._load(results)
        try:
            return self._load(results)
        except StaleImageError:
            raise
        except (ImageFileError, TiffFormatError) as err:
            print_log(f'LoadChipWindow: skipped {results["img_path"]} (img_id '
                      f'{results.get("img_id")}): {err}', logger='current',
                      level=logging.WARNING)
            return None

    def _load(self, results: dict) -> dict:
        path = results['img_path']
        if self.backend_args is not None and not osp.exists(path):
            return self._remote(results)
        src = SOURCES.get(path, reduced_jpeg=self.reduced_jpeg,
                           max_image_pixels=self.max_image_pixels)
        ticket = results.get('chip')
        if ticket is not None and not isinstance(ticket, ChipTicket):
            raise TypeError(f'LoadChipWindow: results["chip"] must be a ChipTicket, got '
                            f'{type(ticket).__name__} (image {path})')
        img = None
        if ticket is None or src.size is None:
            img = src.read(None, 1)  # simple mode, or a file whose size decoding tells
        W, H = src.size
        problem = size_mismatch((W, H), (results.get('width'), results.get('height')),
                                path, results.get('img_id'))
        if problem:
            raise ValueError(f'LoadChipWindow: {problem}')
        if ticket is not None and img is None and \
                reads_fit_level(ticket.chip.box, ticket.chip.scale, (W, H), src.fit_size):
            img = src.read_fit()
            results['img_window'] = (0, 0, 'fit')
        elif ticket is not None:
            k = 1 if img is not None else \
                level_factor(ticket.chip.scale * self.oversample, src.factors)
            win = crop_window(ticket.chip.box, (W, H), k)
            if img is None:
                img = src.read(win, k)
            else:  # decoded whole above: keep the window (a copy frees the whole image)
                rows, cols = level_slice(win, (0, 0, 1))
                img = img[rows, cols].copy()
            results['img_window'] = (win[0], win[1], k)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = (H, W)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(reduced_jpeg={self.reduced_jpeg}, '
                f'max_image_pixels={self.max_image_pixels}, backend_args={self.backend_args}, '
                f'skip_bad={self.skip_bad}, oversample={self.oversample})')


#: Test-time: files with more pixels are left on disk and read by window (16.7 MP).
LAZY_PIXELS = 4096 * 4096


@TRANSFORMS.register_module()
class LoadImageForPyramid(BaseTransform):
    """Test-time loading for the SNIPER pyramid: large files stay on disk.

    A file of at most ``lazy_pixels`` pixels is decoded whole, exactly as
    ``LoadImageFromFile`` does. A larger one is only opened (header): ``img`` is a 2x2
    placeholder and ``img_source`` says where the pixels are. Then
    :class:`~mmsniper.datasets.PyramidResize` reads each whole level it resizes at the
    coarsest stored resolution that suffices (a pyramid's level, a JPEG decoded at 1/2,
    1/4, 1/8), and :class:`~mmsniper.models.SniperTTAModel` cuts the chip-grid levels by
    window (``pyramid_chips == 'file'``): a pyramid written by
    ``convert_large_images.py`` is read tile by tile, any other file is decoded once per
    level (at that level's factor) and cut. So a 20000x20000 image never sits in memory
    whole when it is a pyramid, and once per level at most otherwise.

    Required Keys:

    - img_path (str)

    Modified Keys:

    - img (ndarray): the image, or a ``2x2x3`` placeholder (large files)
    - img_shape, ori_shape (tuple): ``(H, W)`` of the whole file (ORIGINAL pixels)

    Added Keys:

    - img_source (dict, large files only): ``path``, ``reduced_jpeg``,
      ``max_image_pixels``: what :func:`image_source` opens

    Args:
        lazy_pixels (int): files with more pixels (``W * H``) stay on disk. Default
            ``4096 * 4096``.
        reduced_jpeg (bool), max_image_pixels (int | None): as :class:`LoadChipWindow`.
        mmap_threshold (int | None): with glibc, serve allocations from this size on by
            ``mmap`` in this process (:func:`mmsniper.imagefiles.reader.limit_heap_growth`):
            without it, reading the windows of a 20000x20000 image left 1.6 GB of freed
            heap in the process. None: leave the allocator alone. Default 128 KiB.
    """

    def __init__(self, lazy_pixels: int = LAZY_PIXELS, reduced_jpeg: bool = True,
                 max_image_pixels: Optional[int] = MAX_IMAGE_PIXELS,
                 mmap_threshold: Optional[int] = 128 * 1024) -> None:
        limit_heap_growth(mmap_threshold)
        self.lazy_pixels = int(lazy_pixels)
        self.reduced_jpeg = bool(reduced_jpeg)
        self.max_image_pixels = None if max_image_pixels is None else int(max_image_pixels)

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        opts = dict(reduced_jpeg=self.reduced_jpeg, max_image_pixels=self.max_image_pixels)
        src = SOURCES.get(path, **opts)
        if src.size is None or src.size[0] * src.size[1] <= self.lazy_pixels:
            img = src.read(None, 1)
            results.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
            return results
        W, H = src.size
        results['img'] = np.zeros((2, 2, 3), np.uint8)  # 1x1 trips PackDetInputs on flips
        results['img_shape'] = results['ori_shape'] = (H, W)
        results['img_source'] = dict(path=path, **opts)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(lazy_pixels={self.lazy_pixels}, '
                f'reduced_jpeg={self.reduced_jpeg}, max_image_pixels={self.max_image_pixels})')

