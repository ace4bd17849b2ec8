"""``LoadChipWindow``: load only the part of an image file a chip needs.

The training pipeline keeps its shape; the first step changes::

    LoadChipWindow -> LoadAnnotations -> ChipGenerator -> RandomFlip -> PackDetInputs

The interface with :class:`~mmsniper.datasets.ChipGenerator` (both sides use
:mod:`mmsniper.imagefiles.windows`, so they agree on the window by construction):

- ``results['img']`` holds LEVEL pixels of a window, ``results['img_window'] = (x0, y0, k)``
  says where: the array's pixel ``(i, j)`` covers ORIGINAL ``[x0 + j*k, x0 + (j+1)*k) x
  [y0 + i*k, y0 + (i+1)*k)``. ``ChipGenerator`` cuts the chip from it as it would from the
  whole image, reading its crop at ``k``;
- ``results['ori_shape']`` is the FILE's full ``(H, W)`` (from its header, EXIF
  orientation applied), which ``ChipGenerator`` checks against the annotated
  ``height``/``width``;
- without a ticket (simple mode, no sampler) the whole image is loaded at ORIGINAL
  resolution and no ``img_window`` is set: exactly ``LoadImageFromFile``'s output.
"""
from __future__ import annotations

import os.path as osp
from typing import Optional

from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

from ..annotations import size_mismatch
from ..imagefiles import (
    MAX_IMAGE_PIXELS,
    ImageFileError,
    SourceCache,
    crop_window,
    decode,
    level_factor,
    level_slice,
)
from .tickets import ChipTicket

#: One cache per process (data-loader workers each get their own after the fork).
_SOURCES = SourceCache()


@TRANSFORMS.register_module()
class LoadChipWindow(BaseTransform):
    """Read the window of the image file that the ticket's chip is cut from, at the
    coarsest stored resolution that is still at least the chip's scale.

    What that costs depends on the file (chosen by content, not extension; see
    ``docs/large_images.md`` for measurements):

    - a tiled pyramid written by ``tools/dataset_converters/convert_large_images.py``:
      only the tiles under the window, from the level with factor ``k = 2^i <= 1 /
      scale`` -- a chip costs about what its own pixels cost, whatever the image's size;
    - a JPEG: decoded whole, at 1/2, 1/4 or 1/8 of its size when the chip's scale allows
      (``reduced_jpeg``; libjpeg's DCT scaling), then cut;
    - anything else: decoded whole, then cut (what ``LoadImageFromFile`` costs).

    Decoding follows ``LoadImageFromFile``'s defaults (OpenCV, ``color``: 8-bit BGR, EXIF
    orientation applied). A pyramid whose source file changed since its conversion is
    refused (naming both files), not read stale. A truncated or corrupt file stops the
    run with an error naming it (``tools/analysis_tools/check_dataset.py`` finds them all
    beforehand; the converter can skip and count them).

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

    - img_window (tuple[int, int, int]): ``(x0, y0, k)``: ``img`` is level ``k`` from
      ORIGINAL ``(x0, y0)`` on (only with a ticket)

    Args:
        reduced_jpeg (bool): decode JPEGs at 1/2, 1/4, 1/8 when the chip's scale allows.
            Default True.
        max_image_pixels (int | None): refuse files with more pixels (``W * H``), naming
            the file and this setting. Default ``2**30`` (OpenCV's own decoding limit).
            PIL's smaller decompression-bomb limit (~179 MP) is lifted only while this
            loader reads a JPEG header, never process-wide.
        backend_args (dict, optional): as ``LoadImageFromFile``'s; with a non-local
            backend the file is fetched whole and decoded whole (no windows).
    """

    def __init__(self, reduced_jpeg: bool = True,
                 max_image_pixels: Optional[int] = MAX_IMAGE_PIXELS,
                 backend_args: Optional[dict] = None) -> None:
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

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        if self.backend_args is not None and not osp.exists(path):
            return self._remote(results)
        src = _SOURCES.get(path, reduced_jpeg=self.reduced_jpeg,
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
        if ticket is not None:
            k = level_factor(ticket.chip.scale, src.factors) if img is None else 1
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
                f'max_image_pixels={self.max_image_pixels}, backend_args={self.backend_args})')
