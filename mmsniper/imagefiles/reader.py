"""Open an image file once, read windows of it at a chosen resolution.

Three kinds of file, chosen by their first bytes (never by extension):

``'pyramid'``
    a tiled pyramidal TIFF written by :func:`mmsniper.imagefiles.tiff.write_pyramid`
    (``tools/dataset_converters/convert_large_images.py``): only the tiles a window
    touches are read and decoded, at the stored level asked for (factors 1, 2, 4, ...).
    Its description names its source file with size and mtime: a pyramid whose source
    has changed since is refused (:class:`StaleImageError`), not read stale.
``'jpeg'``
    a JPEG: no random access, but libjpeg(-turbo) can decode at 1/2, 1/4 and 1/8 of the
    size (``cv2.IMREAD_REDUCED_COLOR_*``, DCT scaling) for less than a full decode; the
    window is cut from that.
``'decode'``
    anything else OpenCV reads (PNG, BMP, other TIFFs, ...): decoded whole at full size,
    then cut.

Every kind decodes as ``LoadImageFromFile`` does by default (``cv2``, ``IMREAD_COLOR``:
8-bit BGR, EXIF orientation applied), so ORIGINAL pixels mean the same thing everywhere.

Image size limit: files larger than ``max_image_pixels`` (``W * H``, default ``2**30``, the
limit OpenCV's decoders apply by default, ``CV_IO_MAX_IMAGE_PIXELS``) are refused with an
error naming the file and the setting. PIL, used here to read JPEG headers only, refuses
files over about 179 MP unless ``PIL.Image.MAX_IMAGE_PIXELS`` is raised (its guard against
decompression bombs); that global is NOT changed for the process: it is lifted only for
the duration of one header read (under a lock), our own limit applying instead.
"""
from __future__ import annotations

import math
import os
import os.path as osp
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import cv2
import numpy as np

from .tiff import TiffFormatError, TiledPyramid

#: Default largest ``W * H`` read (OpenCV's own default decoding limit).
MAX_IMAGE_PIXELS = 2 ** 30
#: Reduced JPEG decoding: factor -> OpenCV flag.
JPEG_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
#: Open files kept per process (pyramids keep a file descriptor and their tile tables).
CACHE_SIZE = 16

_PIL_LOCK = threading.Lock()


class ImageFileError(ValueError):
    """An image file that cannot be read as asked (unreadable, truncated, too large).

    Attributes:
        path (str): the file.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f'image {path}: {reason}')
        self.path = path


class StaleImageError(ImageFileError):
    """A converted file whose source changed after the conversion."""


@contextmanager
def pil_pixel_limit_lifted() -> Iterator[None]:
    """Lift PIL's decompression-bomb limit for one header read, then restore it.

    The callers here only parse headers (no pixels are decoded) and apply their own
    ``max_image_pixels``; the process-wide ``PIL.Image.MAX_IMAGE_PIXELS`` is restored on
    exit, so other PIL users keep PIL's guard.
    """
    from PIL import Image

    with _PIL_LOCK:
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def jpeg_header(path: str) -> tuple[tuple[int, int], int, Optional[int]]:
    """``((W, H) after EXIF orientation, orientation, estimated quality)`` of a JPEG.

    Reads the header only. Quality is the IJG quality whose luminance table matches the
    file's (None when no standard table matches): re-encoding at it with the same tile
    grid loses little (see :func:`jpeg_quality`).
    """
    from PIL import Image

    with pil_pixel_limit_lifted():
        try:
            with Image.open(path) as im:
                w, h = im.size
                orientation = int(im.getexif().get(0x0112, 1) or 1)
                tables = getattr(im, 'quantization', None)
        except Exception as e:  # any parser error: not a readable JPEG header
            raise ImageFileError(path, f'not a readable JPEG ({type(e).__name__}: {e})') from e
    if orientation in (5, 6, 7, 8):  # rotated by 90 degrees: decoders swap the sides
        w, h = h, w
    return (w, h), orientation, jpeg_quality(tables)


_IJG_TABLES: dict = {}


def jpeg_quality(tables: Any) -> Optional[int]:
    """The IJG quality (1-100) whose luminance table equals ``tables[0]``, else the
    nearest within 10%, else None. ``tables``: PIL's ``JpegImageFile.quantization``."""
    if not tables or 0 not in tables:
        return None
    if not _IJG_TABLES:
        from io import BytesIO

        from PIL import Image
        probe = np.zeros((8, 8, 3), np.uint8)
        for q in range(1, 101):
            ok, buf = cv2.imencode('.jpg', probe, [cv2.IMWRITE_JPEG_QUALITY, q])
            with Image.open(BytesIO(buf.tobytes())) as im:
                _IJG_TABLES[q] = np.asarray(list(im.quantization[0]), np.float64)
    own = np.asarray(list(tables[0]), np.float64)
    best, err = None, math.inf
    for q, t in _IJG_TABLES.items():
        if t.shape == own.shape:
            e = float(np.abs(t - own).sum() / max(own.sum(), 1.0))
            if e < err:
                best, err = q, e
    return best if err <= 0.1 else None


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise ImageFileError(path, f'cannot be read ({e.strerror or e})') from e


def jpeg_truncated(data: bytes) -> bool:
    """True when a JPEG stream ends inside its last scan (no EOI after the last SOS).

    OpenCV decodes such a file without an error (the missing rows come out grey), so the
    readers check this first. ``FF D9`` / ``FF DA`` cannot occur inside entropy-coded data
    (``FF`` is stuffed), so an EOI before the last SOS means the last scan is cut off.
    """
    return data.rfind(b'\xff\xd9') < max(data.rfind(b'\xff\xda'), 0) or \
        data.rfind(b'\xff\xd9') < 0


TRUNCATED = ('the JPEG is truncated (no end-of-image marker after its last scan); fix or '
             'remove the file')


def decode(data: bytes, path: str, flag: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Decode a whole file's bytes as ``LoadImageFromFile`` does (``flag``: an
    ``IMREAD_COLOR``/``IMREAD_REDUCED_COLOR_*`` flag); errors name ``path``."""
    if data[:3] == b'\xff\xd8\xff' and jpeg_truncated(data):
        raise ImageFileError(path, TRUNCATED)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as e:
        raise ImageFileError(path, f'OpenCV cannot decode it ({e})') from e
    if img is None:
        raise ImageFileError(path, 'not a decodable image (OpenCV returned nothing: corrupt, '
                             'truncated or an unknown format)')
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


class ImageSource:
    """One image file, opened for window reads. Use :func:`open_image`.

    Attributes:
        path (str): the file.
        kind (str): ``'pyramid'``, ``'jpeg'`` or ``'decode'`` (see the module).
        size (tuple[int, int] | None): ``(W, H)`` ORIGINAL pixels, EXIF orientation
            applied (``'decode'`` files: from the header when PIL reads it, else after
            the first read).
        factors (tuple[int, ...]): the factors :meth:`read` can give (1 first).
        stat (tuple[int, int]): ``(size, mtime_ns)`` of the file when opened.
        orientation (int): a JPEG's EXIF orientation (1: none; other kinds 1).
        fit_size (tuple[int, int] | None): a pyramid's fit level, ``(w, h)`` SCALED pixels
            (:meth:`read_fit`); None for other files and pyramids without one.
    """

    def __init__(self, path: str, kind: str, size: Optional[tuple[int, int]],
                 factors: Sequence[int], stat: tuple[int, int],
                 pyramid: Optional[TiledPyramid] = None,
                 source: Optional[tuple[str, int, int]] = None, orientation: int = 1) -> None:
        self.path, self.kind, self.size = path, kind, size
        self.orientation = int(orientation)
        self.factors = tuple(factors)
        self.stat = stat
        self._pyramid = pyramid
        self._source = source
        self.fit_size = None if pyramid is None else pyramid.fit_size

    def check_source(self) -> None:
        """Raise :class:`StaleImageError` when a pyramid's source file exists and differs
        (size or mtime) from what the conversion recorded."""
        if self._source is None:
            return
        src, size, mtime = self._source
        try:
            st = os.stat(src)
        except OSError:
            return  # the source was removed after conversion: nothing to compare with
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            raise StaleImageError(
                self.path, f'converted from {src}, which has changed since (size {size} -> '
                f'{st.st_size} bytes, mtime {mtime} -> {st.st_mtime_ns} ns); run '
                'tools/dataset_converters/convert_large_images.py again (it redoes '
                'exactly the changed files)')

    def read(self, window: Optional[Sequence[int]] = None, factor: int = 1) -> np.ndarray:
        """Pixels of a window at a factor.

        Args:
            window (tuple[int, int, int, int] | None): ``(x1, y1, x2, y2)`` ORIGINAL pixels,
                ``x1, y1`` multiples of ``factor``; None: the whole image.
            factor (int): one of :attr:`factors`.

        Returns:
            ndarray[h, w, 3] uint8 BGR, C-contiguous: LEVEL pixels ``[x1/k, ceil(x2/k))`` x
            ``[y1/k, ceil(y2/k))`` of the image at factor ``k`` (for ``'jpeg'`` and
            ``'decode'`` a copy, so the full decode is freed).
        """
        if factor not in self.factors:
            raise ValueError(f'{self.path}: factor {factor} not available (have '
                             f'{self.factors})')
        if self._pyramid is not None:
            try:
                return self._pyramid.read(window, factor)
            except TiffFormatError as e:
                raise ImageFileError(self.path, str(e).split(': ', 1)[-1]) from e
        img = decode(_read_bytes(self.path), self.path, JPEG_REDUCED[factor])
        h, w = img.shape[:2]
        if self.size is None:
            self.size = (w, h)
        W, H = self.size
        if (w, h) != (math.ceil(W / factor), math.ceil(H / factor)):
            raise ImageFileError(self.path, f'decoded at 1/{factor} as {w}x{h}, expected '
                                 f'{math.ceil(W / factor)}x{math.ceil(H / factor)} from its '
                                 f'{W}x{H} header')
        if window is None:
            return img
        x1, y1, x2, y2 = (int(v) for v in window)
        if not (0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H) or x1 % factor or y1 % factor:
            raise ValueError(f'{self.path}: window {tuple(window)} is not inside the {W}x{H} '
                             f'image with a corner on the factor-{factor} grid')
        k = factor
        return np.ascontiguousarray(img[y1 // k:-(-y2 // k), x1 // k:-(-x2 // k)])

    def read_fit(self) -> np.ndarray:
        """A pyramid's fit level: ``ndarray[h, w, 3]`` uint8 BGR, ``(w, h) = fit_size``, the
        whole image resized with OpenCV's area average
        (:func:`~mmsniper.imagefiles.write_pyramid`)."""
        if self._pyramid is None or self.fit_size is None:
            raise ValueError(f'{self.path}: no fit level')
        try:
            return self._pyramid.read_fit()
        except TiffFormatError as e:
            raise ImageFileError(self.path, str(e).split(': ', 1)[-1]) from e

    def hold(self, factor: int = 1) -> HeldLevel:
        """The whole image at ``factor``, decoded once to cut many windows from (the
        chip grid of a test-time pyramid level). Not for pyramids, which are read by
        window (:meth:`read`).

        A JPEG without EXIF rotation is decoded by PIL and kept as PIL holds it: OpenCV's
        decoder peaks at twice the decoded array (a 20000x20000 JPEG: 2.3 GB), PIL's
        image is 4 bytes a pixel and nothing else (1.5 GB), and windows are copied out of
        it. Same libjpeg(-turbo) decoding, same pixels as :meth:`read` (tested). Other
        files, rotated or CMYK JPEGs: :meth:`read`, held as an array.

        Args:
            factor (int): one of :attr:`factors`.

        Returns:
            HeldLevel: ``crop(rows, cols)`` gives LEVEL pixels as :meth:`read` would.
        """
        if self._pyramid is not None:
            raise ValueError(f'{self.path}: a pyramid is read by window, not held')
        if self.kind == 'jpeg' and self.orientation == 1 and self.size is not None:
            held = _pil_jpeg_level(self.path, factor, self.size)
            if held is not None:
                return held
        return HeldLevel(self.read(None, factor))

    def close(self) -> None:
        if self._pyramid is not None:
            self._pyramid.close()


class HeldLevel:
    """A whole level of an image file in memory, cut into windows by :meth:`crop`.

    Args:
        img (ndarray[h, w, 3] | PIL.Image.Image): LEVEL pixels, BGR uint8 as an array,
            ``'RGB'`` or ``'L'`` as a PIL image.
    """

    def __init__(self, img: Any) -> None:
        self.img = img
        self.shape = img.shape[:2] if isinstance(img, np.ndarray) else img.size[::-1]

    def crop(self, rows: slice, cols: slice) -> np.ndarray:
        """``ndarray[h, w, 3]`` uint8 BGR, C-contiguous: ``rows x cols`` of the level,
        clipped to it as NumPy slicing clips (slices with steps of 1, starts >= 0)."""
        if isinstance(self.img, np.ndarray):
            return np.ascontiguousarray(self.img[rows, cols])
        h, w = self.shape
        y1, y2 = min(rows.start or 0, h), min(h if rows.stop is None else rows.stop, h)
        x1, x2 = min(cols.start or 0, w), min(w if cols.stop is None else cols.stop, w)
        arr = np.asarray(self.img.crop((x1, y1, max(x1, x2), max(y1, y2))))
        if arr.ndim == 2:
            return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
        return np.ascontiguousarray(arr[:, :, ::-1])  # RGB -> BGR, as OpenCV decodes


def _pil_jpeg_level(path: str, factor: int, size: tuple[int, int]) -> Optional[HeldLevel]:
    """A JPEG decoded by PIL at ``1 / factor`` (DCT scaling, as OpenCV's
    ``IMREAD_REDUCED_*``), or None when PIL would not give OpenCV's pixels (not RGB or
    greyscale, another scale)."""
    from PIL import Image

    if jpeg_truncated(_read_bytes(path)):  # PIL, like OpenCV, decodes it without a word
        raise ImageFileError(path, TRUNCATED)
    W, H = size
    want = (math.ceil(W / factor), math.ceil(H / factor))
    try:
        with pil_pixel_limit_lifted():  # checked at open; our max_image_pixels applied
            im = Image.open(path)
        if im.format != 'JPEG' or im.mode not in ('RGB', 'L'):
            im.close()
            return None
        if factor > 1:  # asks for floor: PIL picks the largest scale that still covers it
            im.draft(im.mode, (max(1, W // factor), max(1, H // factor)))
        if im.size != want:
            im.close()
            return None
        im.load()
    except Exception as e:
        raise ImageFileError(path, f'PIL cannot decode it ({type(e).__name__}: {e})') from e
    return HeldLevel(im)


def _header_size(path: str) -> Optional[tuple[int, int]]:
    """``(W, H)`` from a PNG/BMP/... header (PIL, header only), None when PIL cannot tell
    (the size is then known after the first decode, which checks a header size too)."""
    from PIL import Image

    with pil_pixel_limit_lifted():
        try:
            with Image.open(path) as im:
                return im.size
        except Exception:  # PIL does not know the format: OpenCV may
            return None


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as e:
        raise ImageFileError(path, f'cannot be read ({e.strerror or e})') from e
    return st.st_size, st.st_mtime_ns


def open_image(path: str, reduced_jpeg: bool = True,
               max_image_pixels: Optional[int] = MAX_IMAGE_PIXELS) -> ImageSource:
    """Open ``path`` for window reads (reads its header only).

    Args:
        path (str): a local image file.
        reduced_jpeg (bool): let JPEGs be decoded at 1/2, 1/4, 1/8 (else full size only).
        max_image_pixels (int | None): refuse files with more pixels (None: no limit
            here; OpenCV keeps its own).

    Returns:
        ImageSource: the opened file.

    Raises:
        ImageFileError: missing, unreadable, truncated, too large (naming the file).
        StaleImageError: a pyramid whose source changed since it was converted.
    """
    stat = _stat(path)
    with open(path, 'rb') as f:
        head = f.read(16)
    kind, size, factors, orientation = 'decode', None, (1,), 1
    pyramid = source = None
    if head[:2] in (b'II', b'MM'):
        try:
            pyramid = TiledPyramid(path)
        except TiffFormatError as e:
            if 'not a pyramid written by mmsniper' not in str(e) and \
                    'not a TIFF' not in str(e):
                raise ImageFileError(path, str(e).split(': ', 1)[-1]) from e
            pyramid = None  # another TIFF: decoded whole
        if pyramid is not None:
            kind, size, factors = 'pyramid', pyramid.size, pyramid.factors
            d = pyramid.description
            if d.get('source') is not None and d.get('source_size') is not None:
                src = d['source']
                src = src if osp.isabs(src) else osp.normpath(osp.join(osp.dirname(path), src))
                source = (src, int(d['source_size']), int(d['source_mtime_ns']))
    elif head[:3] == b'\xff\xd8\xff':
        size, orientation, _ = jpeg_header(path)
        kind, factors = 'jpeg', (1, 2, 4, 8) if reduced_jpeg else (1,)
    if kind == 'decode':
        size = _header_size(path)
    if size is not None and max_image_pixels is not None and \
            size[0] * size[1] > max_image_pixels:
        if pyramid is not None:
            pyramid.close()
        raise ImageFileError(path, f'{size[0]}x{size[1]} = {size[0] * size[1]} pixels is above '
                             f'max_image_pixels={max_image_pixels}; raise that setting '
                             '(LoadChipWindow(max_image_pixels=...), '
                             '--max-image-pixels) if the file is trusted')
    src = ImageSource(path, kind, size, factors, stat, pyramid, source, orientation)
    src.check_source()
    return src


_MMAP_SET: list = []


def limit_heap_growth(threshold: Optional[int] = 128 * 1024) -> bool:
    """Serve allocations of ``threshold`` bytes or more by ``mmap`` (glibc only).

    glibc raises its mmap threshold each time a large block is freed, after which blocks
    of that size come from the heap and are rarely given back: reading thousands of tiles
    and chips of a 20000x20000 image then grows the process by 1.6 GB that nothing uses
    (measured: live memory +18 MB; with this setting the peak stays there). Sets
    ``M_MMAP_THRESHOLD`` once per process with ``mallopt`` (which also stops the dynamic
    adjustment); does nothing on other C libraries or with ``threshold=None``. Called by
    ``LoadImageForPyramid`` (inference), whose process reads many windows.

    Returns:
        bool: whether the setting is in force.
    """
    if threshold is None:
        return False
    if _MMAP_SET:
        return True
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        ok = bool(libc.mallopt(-3, int(threshold)))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        return False
    if ok:
        _MMAP_SET.append(int(threshold))
    return ok


class SourceCache:
    """Open :class:`ImageSource` objects of this process, least recently used dropped.

    A data-loader worker reads chips of many images in random order, so what is cached is
    the cheap part worth keeping, never pixels: a pyramid's open file and tile tables, a
    JPEG's header. A file changed on disk (size or mtime) is opened again; a pyramid's
    source is checked on every read (one ``stat``). Forked workers start empty.
    """

    def __init__(self, capacity: int = CACHE_SIZE) -> None:
        self.capacity = int(capacity)
        self._items: OrderedDict = OrderedDict()
        self._pid = os.getpid()

    def get(self, path: str, **options: Any) -> ImageSource:
        if self._pid != os.getpid():  # a forked worker: its own files
            self._items = OrderedDict()
            self._pid = os.getpid()
        key = (path, tuple(sorted(options.items())))
        src = self._items.get(key)
        if src is not None and src.stat == _stat(path):
            self._items.move_to_end(key)
            src.check_source()
            return src
        if src is not None:
            src.close()
        src = open_image(path, **options)
        self._items[key] = src
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)[1].close()
        return src

    def find(self, path: str) -> Optional[ImageSource]:
        """The most recently used source of ``path`` opened with any options (None if
        none is open)."""
        if self._pid != os.getpid():
            return None
        for key in reversed(self._items):
            if key[0] == path:
                src = self._items[key]
                if src.stat == _stat(path):
                    src.check_source()
                    return src
        return None

    def clear(self) -> None:
        for src in self._items.values():
            src.close()
        self._items.clear()


#: The process's cache of open image files, shared by the loading transforms and the test-time
#: chip cutter (data-loader workers each get their own after the fork).
SOURCES = SourceCache()


def image_source(results: dict) -> Optional[ImageSource]:
    """The opened file of a view that :class:`~mmsniper.datasets.LoadImageForPyramid` left on
    disk (None when the view holds its image). Uses the process's cache of open files."""
    cfg = results.get('img_source') if isinstance(results, dict) else None
    if not cfg:
        return None
    return SOURCES.get(cfg['path'], reduced_jpeg=cfg['reduced_jpeg'],
                        max_image_pixels=cfg['max_image_pixels'])
