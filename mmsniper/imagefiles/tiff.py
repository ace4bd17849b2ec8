"""Tiled pyramidal TIFF: the fast layout for large images, written once, read by window.

A file holds the image at factors ``1, 2, 4, ...`` (one IFD per level, the reduced ones
flagged ``NewSubfileType = 1``, as Cloud-Optimized GeoTIFF overviews are), each cut into
``tile x tile`` tiles. Level ``k`` has ``ceil(W / k) x ceil(H / k)`` pixels and its pixel
``(i, j)`` is the mean of ORIGINAL pixels ``[j*k, (j+1)*k) x [i*k, (i+1)*k)`` (the image's
border replicated where that runs past it). The coarsest level is the first whose long
side fits in one tile. A file may also hold a **fit level** after those (``fit_size`` in the
description): the whole image resized with OpenCV's area average to the size at which it
fits one chip, uncompressed, exactly as ``ChipGenerator`` resizes that chip's window, so
SNIPER's coarsest chip (the whole image at ``chip / long side``) is read as it is
(docs/reports/large_images.md: the factor-2 levels cannot give that chip within 2 grey levels).

Tiles are JPEG (one complete JFIF stream per tile, ``Photometric = YCbCr``, 4:4:4 or 4:2:0, as
TIFF Technical Note 2 allows), Deflate or uncompressed (both ``RGB``), 8 bits, 3 samples.
The first IFD's ``ImageDescription`` is a JSON object with ``"mmsniper_pyramid": 1``, the
original size, the factors and what the file was made from (see :func:`write_pyramid`).
Other programs read the file as a normal tiled BigTIFF (libtiff, OpenCV, GDAL, tifffile).

Why our own ~200 lines and not ``tifffile``: tifffile writes JPEG tiles only through
``imagecodecs`` (80 MB of binaries), and what a chip costs here is decoding its tiles,
which OpenCV's libjpeg-turbo does as fast (0.31 ms per 256x256 tile vs 0.25 ms with
imagecodecs, measured). Only the files this module writes are read by window; any other
TIFF is decoded whole (:mod:`mmsniper.imagefiles.reader`).

Frames: ORIGINAL pixels are the source image's (EXIF orientation applied, as
``LoadImageFromFile`` decodes it); LEVEL pixels are ORIGINAL / factor.
"""
from __future__ import annotations

import json
import math
import os
import struct
import zlib
from typing import Any, Iterator, NamedTuple, Optional, Sequence

import cv2
import numpy as np

from ..chips.scales import scaled_image_size

#: Compression names -> TIFF Compression tag values.
COMPRESSIONS = {'jpeg': 7, 'deflate': 8, 'none': 1}
MARKER = 'mmsniper_pyramid'

# TIFF field types: (code, struct format, size)
_SHORT, _LONG, _ASCII, _LONG8, _RATIONAL = 3, 4, 2, 16, 5
_TYPE_FMT = {1: ('B', 1), 2: ('s', 1), 3: ('H', 2), 4: ('I', 4), 5: ('II', 8), 16: ('Q', 8),
             7: ('B', 1)}


class TiffFormatError(ValueError):
    """The file is not a pyramid this module can read (or is damaged)."""


def level_count(size: tuple[int, int], tile: int) -> int:
    """Levels ``1, 2, 4, ...`` down to the first whose long side fits in one tile."""
    w, h = size
    n = 1
    while max(math.ceil(w / 2 ** (n - 1)), math.ceil(h / 2 ** (n - 1))) > tile:
        n += 1
    return n


def halve(img: np.ndarray) -> np.ndarray:
    """The next level: 2x2 means, ``ceil(w / 2) x ceil(h / 2)`` (odd sides: the last row /
    column replicated first, so a border pixel averages what the image has there)."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = cv2.copyMakeBorder(img, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return cv2.resize(img, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


def _encode_tile(tile: np.ndarray, compression: str, quality: int, sub420: bool) -> bytes:
    if compression == 'jpeg':
        factor = (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420 if sub420 else
                  cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444)
        ok, buf = cv2.imencode('.jpg', tile, [cv2.IMWRITE_JPEG_QUALITY, int(quality),
                                              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor])
        if not ok:
            raise RuntimeError('OpenCV could not encode a JPEG tile')
        return buf.tobytes()
    rgb = np.ascontiguousarray(tile[:, :, ::-1]).tobytes()  # TIFF RGB, arrays BGR
    return zlib.compress(rgb, 6) if compression == 'deflate' else rgb


def _tiles(img: np.ndarray, tile: int, compression: str, quality: int,
           sub420: bool) -> Iterator[bytes]:
    """The level's tiles in TIFF order (rows of tiles, top to bottom), edge tiles padded
    to full size by replicating the border (no JPEG ringing at the image's edge)."""
    h, w = img.shape[:2]
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            t = img[y:y + tile, x:x + tile]
            if t.shape[0] != tile or t.shape[1] != tile:
                t = cv2.copyMakeBorder(t, 0, tile - t.shape[0], 0, tile - t.shape[1],
                                       cv2.BORDER_REPLICATE)
            yield _encode_tile(np.ascontiguousarray(t), compression, quality, sub420)


def _entry(tag: int, typ: int, values: Any) -> tuple:
    return (tag, typ, values)


def _pack_ifd(f: Any, entries: list, next_pos: int = 0) -> tuple[int, int]:
    """Write one BigTIFF IFD (values longer than 8 bytes after it) at the file's end.

    Returns ``(position of the IFD, position of its next-IFD pointer)``.
    """
    entries = sorted(entries, key=lambda e: e[0])
    pos = f.seek(0, os.SEEK_END)
    pos += pos % 2  # word aligned
    head = 8 + 20 * len(entries) + 8
    extra = bytearray()
    body = bytearray(struct.pack('<Q', len(entries)))
    for tag, typ, values in entries:
        if typ == _ASCII:
            data = values.encode('utf-8') + b'\0'
            count = len(data)
        else:
            vals = list(values) if isinstance(values, (list, tuple)) else [values]
            fmt, size = _TYPE_FMT[typ]
            if typ == _RATIONAL:
                data = b''.join(struct.pack('<II', a, b) for a, b in vals)
            else:
                data = struct.pack('<' + fmt * len(vals), *vals)
            count = len(vals)
        if len(data) <= 8:
            body += struct.pack('<HHQ', tag, typ, count) + data.ljust(8, b'\0')
        else:
            off = pos + head + len(extra)
            body += struct.pack('<HHQQ', tag, typ, count, off)
            extra += data + (b'\0' if len(data) % 2 else b'')
    f.seek(pos)
    f.write(bytes(body))
    pointer = f.tell()
    f.write(struct.pack('<Q', next_pos))
    f.write(bytes(extra))
    return pos, pointer


def write_pyramid(img: np.ndarray, path: str, tile: int = 256, compression: str = 'jpeg',
                  quality: int = 90, level_quality: int = 95, subsampling: str = '444',
                  level_subsampling: str = '444', description: Optional[dict] = None,
                  level_compression: Optional[str] = None,
                  fit_size: Optional[Sequence[int]] = None) -> dict:
    """Write ``img`` as a tiled pyramidal BigTIFF.

    Memory: the image plus its next level (the tiles are encoded and written one by one).

    Args:
        img (ndarray[H, W, 3] uint8): BGR image, ORIGINAL pixels (as ``cv2.imread``).
        path (str): the file to write (overwritten).
        tile (int): tile side, a multiple of 16. Default 256 (see docs/reports/large_images.md).
        compression (str): ``'jpeg'`` (default), ``'deflate'`` (lossless) or ``'none'``.
        quality (int): JPEG quality of the full-resolution level, 1-100. Default 90.
            Re-encoding a JPEG at its own quality and chroma subsampling, on the same
            8/16-pixel grid (tiles start on multiples of 16), loses little (measured:
            0.6-0.9 grey levels mean difference).
        level_quality (int): JPEG quality of the reduced levels. Default 95.
        subsampling (str): chroma subsampling of the full-resolution level, ``'444'`` or
            ``'420'`` (use the source JPEG's). Default ``'444'``.
        level_subsampling (str): the same for the reduced levels. Default ``'444'``:
            they have more detail per pixel than the source, and 4:2:0 cost them 2-3
            grey levels more mean difference in our measurements (but decodes about
            1.5x faster; docs/reports/large_images.md).
        description (dict, optional): more keys for the JSON description (e.g. the source
            file's size and mtime).
        level_compression (str, optional): the reduced levels' compression, if not
            ``compression``'s: ``'none'`` keeps them raw, faster to read and as large as
            their pixels (``W * H`` bytes for all reduced levels together;
            docs/reports/large_images.md).
        fit_size (tuple[int, int], optional): ``(w, h)`` SCALED pixels: also store the
            fit level, ``cv2.resize(img, fit_size, interpolation=cv2.INTER_AREA)`` (the
            chip of the whole image at ``scale = chip / long side`` is that resize,
            :func:`fit_level_size`), always uncompressed (``3 * w * h`` bytes, 0.6-0.8 MB
            for a 512 chip: a JPEG of it would differ from the chip by ~1.5 grey levels
            on our test picture). Each side at most the image's. None (default): none.

    Returns:
        dict: the description written (``mmsniper_pyramid``, ``width``, ``height``,
        ``factors``, ``tile``, ``compression``, ``quality``, ``fit_size`` when given, and
        ``description``'s keys).
    """
    comps = (compression, level_compression or compression)  # level 0, reduced levels
    for name, v in zip(('compression', 'level_compression'), comps):
        if v not in COMPRESSIONS:
            raise ValueError(f'{name}: expected one of {sorted(COMPRESSIONS)}, got {v!r}')
    if not (isinstance(tile, int) and tile >= 16 and tile % 16 == 0):
        raise ValueError(f'tile: expected a multiple of 16, got {tile!r}')
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f'write_pyramid: expected an (H, W, 3) uint8 BGR image, got '
                         f'{img.dtype} {img.shape}')
    h, w = img.shape[:2]
    n = level_count((w, h), tile)
    fit = None
    if fit_size is not None:
        fw, fh = (int(v) for v in fit_size)
        if not (0 < fw <= w and 0 < fh <= h) or (fw, fh) == (w, h):
            raise ValueError(f'fit_size: expected (w, h) with 0 < w <= {w}, 0 < h <= {h} and '
                             f'smaller than the image, got {tuple(fit_size)}')
        fit = cv2.resize(img, (fw, fh), interpolation=cv2.INTER_AREA)
    desc = dict(description or {})
    for name, v in (('subsampling', subsampling), ('level_subsampling', level_subsampling)):
        if v not in ('444', '420'):
            raise ValueError(f"{name}: expected '444' or '420', got {v!r}")
    desc.update({MARKER: 1, 'width': w, 'height': h, 'factors': [2 ** i for i in range(n)],
                 'tile': tile, 'compression': compression})
    if level_compression is None:  # the description as before the option existed
        jpeg = compression == 'jpeg'
        desc.update(quality=[int(quality), int(level_quality)] if jpeg else None,
                    subsampling=[subsampling, level_subsampling] if jpeg else None)
    else:
        desc.update(level_compression=level_compression,
                    quality=[int(q) if c == 'jpeg' else None
                             for c, q in zip(comps, (quality, level_quality))],
                    subsampling=[v if c == 'jpeg' else None
                                 for c, v in zip(comps, (subsampling, level_subsampling))])
    if fit is not None:
        desc['fit_size'] = [fit.shape[1], fit.shape[0]]
    stored = n + (fit is not None)  # the factor-2 levels, then the fit level
    with open(path, 'wb') as f:
        f.write(b'II' + struct.pack('<HHHQ', 43, 8, 0, 0))  # BigTIFF, first IFD patched
        prev_pointer = 8
        level = img
        for i in range(stored):
            if i == n:
                level = fit
            lh, lw = level.shape[:2]
            offsets, counts = [], []
            sub420 = (subsampling if i == 0 else level_subsampling) == '420'
            q = quality if i == 0 else level_quality
            comp = 'none' if i == n else comps[min(i, 1)]
            for data in _tiles(level, tile, comp, q, sub420):
                offsets.append(f.tell())
                counts.append(len(data))
                f.write(data)
            entries = [
                _entry(254, _LONG, 0 if i == 0 else 1),
                _entry(256, _LONG, lw), _entry(257, _LONG, lh),
                _entry(258, _SHORT, [8, 8, 8]), _entry(259, _SHORT, COMPRESSIONS[comp]),
                _entry(262, _SHORT, 6 if comp == 'jpeg' else 2),
                _entry(277, _SHORT, 3), _entry(284, _SHORT, 1),
                _entry(305, _ASCII, 'mmsniper'),
                _entry(322, _LONG, tile), _entry(323, _LONG, tile),
                _entry(324, _LONG8, offsets), _entry(325, _LONG8, counts),
                _entry(339, _SHORT, [1, 1, 1]),
            ]
            if i == 0:
                entries.append(_entry(270, _ASCII, json.dumps(desc, sort_keys=True)))
            if comp == 'jpeg':
                entries += [_entry(530, _SHORT, [2, 2] if sub420 else [1, 1]),
                            _entry(532, _RATIONAL, [(0, 1), (255, 1), (128, 1), (255, 1),
                                                    (128, 1), (255, 1)])]
            pos, pointer = _pack_ifd(f, entries)
            f.seek(prev_pointer)
            f.write(struct.pack('<Q', pos))
            f.seek(0, os.SEEK_END)
            prev_pointer = pointer
            if i + 1 < n:
                level = halve(level)
    return desc


def fit_level_size(image_size: tuple[int, int], chip_size: int = 512) -> Optional[tuple[int, int]]:
    """The size of the fit level of a ``(W, H)`` image: the image resized by ``s = chip_size
    / max(W, H)`` (SNIPER's coarsest scale, ``(-1, chip_size)``), whole pixels rounded as
    :func:`~mmsniper.chips.scales.scaled_image_size` rounds them, which is the size
    ``ChipGenerator`` resizes that chip's ORIGINAL window (the whole image) to.

    Returns:
        tuple[int, int] | None: ``(w, h)`` SCALED pixels; None when the image already fits
        (``max(W, H) <= chip_size``: its chips are read from level 0).
    """
    w, h = (int(v) for v in image_size)
    if max(w, h) <= int(chip_size):
        return None
    return scaled_image_size((w, h), int(chip_size) / max(w, h))


class _Level(NamedTuple):
    width: int
    height: int
    tile: int
    offsets: np.ndarray  # int64[tiles]
    counts: np.ndarray   # int64[tiles]
    compression: int


def _read_ifd(buf: Any, pos: int, big: bool, endian: str, size: int) -> tuple[dict, int]:
    """Tags of the IFD at ``pos``: ``{tag: tuple of values}`` and the next IFD's offset."""
    def read(n: int, at: int) -> bytes:
        if at < 0 or at + n > size:
            raise TiffFormatError(f'an IFD points past the end of the file ({at + n} > {size} '
                                  'bytes): the file is truncated')
        return buf(n, at)

    if big:
        (n,) = struct.unpack(endian + 'Q', read(8, pos))
        esize, head, inline = 20, 8, 8
    else:
        (n,) = struct.unpack(endian + 'H', read(2, pos))
        esize, head, inline = 12, 2, 4
    if n > 4096:
        raise TiffFormatError(f'an IFD claims {n} entries: not a valid TIFF')
    raw = read(esize * n + inline, pos + head)
    tags = {}
    for e in range(n):
        chunk = raw[e * esize:(e + 1) * esize]
        if big:
            tag, typ, count = struct.unpack(endian + 'HHQ', chunk[:12])
            value = chunk[12:20]
        else:
            tag, typ, count = struct.unpack(endian + 'HHI', chunk[:8])
            value = chunk[8:12]
        if typ not in _TYPE_FMT:
            continue
        fmt, tsize = _TYPE_FMT[typ]
        nbytes = tsize * count
        data = value[:nbytes] if nbytes <= inline else read(
            nbytes, struct.unpack(endian + ('Q' if big else 'I'), value)[0])
        if typ == _ASCII:
            tags[tag] = (data.rstrip(b'\0').decode('utf-8', 'replace'),)
        elif typ == _RATIONAL:
            tags[tag] = struct.unpack(endian + 'I' * (2 * count), data)
        else:
            tags[tag] = struct.unpack(endian + fmt * count, data)
    (nxt,) = struct.unpack(endian + ('Q' if big else 'I'), raw[esize * n:esize * n + inline])
    return tags, nxt


def read_description(path: str) -> Optional[dict]:
    """The pyramid description of ``path`` (see :func:`write_pyramid`), or None when the
    file is not a pyramid written by mmsniper. Reads only the header."""
    try:
        return TiledPyramid(path).description
    except (TiffFormatError, OSError):
        return None


class TiledPyramid:
    """A pyramid written by :func:`write_pyramid`, read by window and level.

    Opening reads only the IFDs (a few KB); :meth:`read` reads and decodes only the tiles
    a window touches. The file stays open (``os.pread``: no shared seek position, safe in
    forked data-loader workers) until :meth:`close`.

    Args:
        path (str): the file.

    Raises:
        TiffFormatError: not a TIFF, not written by mmsniper, or truncated (a tile or IFD
            past the end of the file).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self._open()
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise

    def _pread(self, n: int, at: int) -> bytes:
        data = os.pread(self._fd, n, at)
        if len(data) != n:
            raise TiffFormatError(f'{self.path}: short read at byte {at}: the file is truncated')
        return data

    def _open(self) -> None:
        size = os.fstat(self._fd).st_size
        self.file_size = size
        head = os.pread(self._fd, 16, 0)
        if head[:2] not in (b'II', b'MM') or len(head) < 8:
            raise TiffFormatError(f'{self.path}: not a TIFF file')
        endian = '<' if head[:2] == b'II' else '>'
        (magic,) = struct.unpack(endian + 'H', head[2:4])
        if magic == 43:
            big, (first,) = True, struct.unpack(endian + 'Q', head[8:16])
        elif magic == 42:
            big, (first,) = False, struct.unpack(endian + 'I', head[4:8])
        else:
            raise TiffFormatError(f'{self.path}: not a TIFF file')
        levels: list[_Level] = []  # the factor-2 levels, then the fit level if any
        pos, desc = first, None
        while pos and len(levels) < 64:
            tags, pos = _read_ifd(self._pread, pos, big, endian, size)
            if not levels:
                text = tags.get(270, ('',))[0]
                try:
                    desc = json.loads(text) if text.startswith('{') else None
                except ValueError:
                    desc = None
                if not isinstance(desc, dict) or desc.get(MARKER) != 1:
                    raise TiffFormatError(f'{self.path}: a TIFF, but not a pyramid written by '
                                          'mmsniper (convert_large_images.py)')
            need = (256, 257, 322, 323, 324, 325, 259)
            if any(t not in tags for t in need):
                raise TiffFormatError(f'{self.path}: level {len(levels)} is not tiled')
            lv = _Level(int(tags[256][0]), int(tags[257][0]), int(tags[322][0]),
                        np.asarray(tags[324], np.int64), np.asarray(tags[325], np.int64),
                        int(tags[259][0]))
            nt = math.ceil(lv.width / lv.tile) * math.ceil(lv.height / lv.tile)
            if len(lv.offsets) != nt or len(lv.counts) != nt or lv.tile != tags[323][0]:
                raise TiffFormatError(f'{self.path}: level {len(levels)} has {len(lv.offsets)} '
                                      f'tiles, expected {nt}')
            if nt and int((lv.offsets + lv.counts).max()) > size:
                raise TiffFormatError(f'{self.path}: level {len(levels)} has tiles past the end '
                                      f'of the file ({size} bytes): the file is truncated; '
                                      'convert it again')
            levels.append(lv)
        self.description: dict = desc or {}
        self.size = (int(self.description.get('width', levels[0].width)),
                     int(self.description.get('height', levels[0].height)))
        if self.size != (levels[0].width, levels[0].height):
            raise TiffFormatError(f'{self.path}: description size {self.size} differs from '
                                  f'the image {levels[0].width}x{levels[0].height}')
        fit = self.description.get('fit_size')
        #: ``(w, h)`` of the fit level (:meth:`read_fit`), None when the file has none.
        self.fit_size = None if fit is None else (int(fit[0]), int(fit[1]))
        n = len(levels) - (fit is not None)
        for i, lv in enumerate(levels):
            k = 2 ** i
            want = self.fit_size if i == n else (math.ceil(self.size[0] / k),
                                                 math.ceil(self.size[1] / k))
            if n < 1 or (lv.width, lv.height) != want:
                raise TiffFormatError(f'{self.path}: level {i} is {lv.width}x{lv.height}, '
                                      f'expected {want[0]}x{want[1]} '
                                      f'({"the fit level" if i == n else f"factor {k}"})')
        self.levels = levels
        self.factors = tuple(2 ** i for i in range(n))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TiledPyramid:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _tile(self, lv: _Level, index: int, level: int) -> np.ndarray:
        data = self._pread(int(lv.counts[index]), int(lv.offsets[index]))
        t = lv.tile
        if lv.compression == 7:
            out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if out is None or out.shape[:2] != (t, t):
                raise TiffFormatError(f'{self.path}: tile {index} of level {level} is not a '
                                      f'decodable {t}x{t} JPEG: the file is damaged; convert '
                                      'it again')
            return out
        if lv.compression == 8:
            try:
                data = zlib.decompress(data)
            except zlib.error as e:
                raise TiffFormatError(f'{self.path}: tile {index} of level {level}: {e}: the '
                                      'file is damaged; convert it again') from None
        elif lv.compression != 1:
            raise TiffFormatError(f'{self.path}: compression {lv.compression} not supported')
        if len(data) != t * t * 3:
            raise TiffFormatError(f'{self.path}: tile {index} of level {level} has '
                                  f'{len(data)} bytes, expected {t * t * 3}')
        return np.frombuffer(data, np.uint8).reshape(t, t, 3)[:, :, ::-1]

    def read(self, window: Optional[Sequence[int]] = None, factor: int = 1) -> np.ndarray:
        """Pixels of one window at one level.

        Args:
            window (tuple[int, int, int, int] | None): ``(x1, y1, x2, y2)`` in ORIGINAL
                pixels, ``x1, y1`` multiples of ``factor``, inside the image; None: the
                whole image.
            factor (int): one of :attr:`factors`.

        Returns:
            ndarray[h, w, 3] uint8 BGR: LEVEL pixels ``[x1 / k, ceil(x2 / k))`` x
            ``[y1 / k, ceil(y2 / k))`` of level ``k = factor``.
        """
        if factor not in self.factors:
            raise ValueError(f'{self.path}: factor {factor} not stored (have {self.factors})')
        li = self.factors.index(factor)
        lv = self.levels[li]
        W, H = self.size
        x1, y1, x2, y2 = (0, 0, W, H) if window is None else (int(v) for v in window)
        if not (0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H) or x1 % factor or y1 % factor:
            raise ValueError(f'{self.path}: window {window} is not inside the {W}x{H} image '
                             f'with a corner on the factor-{factor} grid')
        u1, v1 = x1 // factor, y1 // factor
        u2, v2 = min(lv.width, -(-x2 // factor)), min(lv.height, -(-y2 // factor))
        return self._read_level(li, (u1, v1, u2, v2))

    def read_fit(self) -> np.ndarray:
        """The whole fit level (see :func:`write_pyramid`).

        Returns:
            ndarray[h, w, 3] uint8 BGR, ``(w, h) = fit_size``: the image resized to the fit
            size with OpenCV's area average (SCALED pixels).

        Raises:
            ValueError: the file has no fit level (``fit_size`` is None).
        """
        if self.fit_size is None:
            raise ValueError(f'{self.path}: no fit level (convert again with --fit-chip)')
        li = len(self.levels) - 1
        return self._read_level(li, (0, 0) + self.fit_size)

    def _read_level(self, li: int, box: tuple[int, int, int, int]) -> np.ndarray:
        """LEVEL pixels ``[u1, u2) x [v1, v2)`` of stored level ``li``."""
        lv = self.levels[li]
        u1, v1, u2, v2 = box
        t = lv.tile
        cols = math.ceil(lv.width / t)
        out = np.empty((v2 - v1, u2 - u1, 3), np.uint8)
        if lv.compression == 1:
            return self._read_raw(lv, li, (u1, v1, u2, v2), out)
        for ty in range(v1 // t, (v2 - 1) // t + 1):
            for tx in range(u1 // t, (u2 - 1) // t + 1):
                tile = self._tile(lv, ty * cols + tx, li)
                # the part of this tile inside the window, in LEVEL pixels
                a, b = max(u1, tx * t), min(u2, (tx + 1) * t)
                c, d = max(v1, ty * t), min(v2, (ty + 1) * t)
                out[c - v1:d - v1, a - u1:b - u1] = tile[c - ty * t:d - ty * t,
                                                          a - tx * t:b - tx * t]
        return out

    def _read_raw(self, lv: _Level, li: int, box: tuple[int, int, int, int],
                  out: np.ndarray) -> np.ndarray:
        """:meth:`read` for an uncompressed level: only the tile rows inside the window are
        read, straight into one buffer, and the colours are swapped once (TIFF RGB to BGR)
        for the whole window: about half the time of reading whole tiles and flipping
        each (docs/reports/large_images.md, raw levels)."""
        u1, v1, u2, v2 = box
        t = lv.tile
        cols = math.ceil(lv.width / t)
        buf = np.empty((t, t, 3), np.uint8)
        for ty in range(v1 // t, (v2 - 1) // t + 1):
            c, d = max(v1, ty * t), min(v2, (ty + 1) * t)  # LEVEL rows of this tile row
            rows = buf[:d - c]
            for tx in range(u1 // t, (u2 - 1) // t + 1):
                index = ty * cols + tx
                if lv.counts[index] != t * t * 3:
                    raise TiffFormatError(f'{self.path}: tile {index} of level {li} has '
                                          f'{lv.counts[index]} bytes, expected {t * t * 3}')
                at = int(lv.offsets[index]) + (c - ty * t) * t * 3
                if os.preadv(self._fd, [rows.reshape(-1)], at) != rows.nbytes:
                    raise TiffFormatError(f'{self.path}: short read at byte {at}: the file '
                                          'is truncated')
                a, b = max(u1, tx * t), min(u2, (tx + 1) * t)
                out[c - v1:d - v1, a - u1:b - u1] = rows[:, a - tx * t:b - tx * t]
        cv2.cvtColor(out, cv2.COLOR_RGB2BGR, dst=out)
        return out
