"""Reading large images by window and resolution, and the tiled pyramid layout.

No MMDetection here (OpenCV, NumPy, PIL for JPEG headers): the loading transform
:class:`~mmsniper.datasets.LoadChipWindow`, ``ChipGenerator``, the test-time models' chip
cutters (:func:`cut_scaled_window`, :func:`file_chip_cutter`), the converter
(:mod:`~mmsniper.imagefiles.convert`) and the loading benchmark all use it. See
``docs/user_guides/large_images.md``.
"""
from .reader import (
    MAX_IMAGE_PIXELS,
    SOURCES,
    HeldLevel,
    ImageFileError,
    ImageSource,
    SourceCache,
    StaleImageError,
    decode,
    image_source,
    jpeg_header,
    open_image,
    pil_pixel_limit_lifted,
)
from .tiff import COMPRESSIONS, TiffFormatError, TiledPyramid, read_description, write_pyramid
from .windows import (
    ScaledWindows,
    crop_window,
    cut_scaled_window,
    file_chip_cutter,
    level_factor,
    level_slice,
)

__all__ = ['MAX_IMAGE_PIXELS', 'HeldLevel', 'ImageFileError', 'ImageSource', 'SourceCache',
           'StaleImageError', 'decode', 'jpeg_header', 'open_image', 'pil_pixel_limit_lifted',
           'COMPRESSIONS', 'TiffFormatError', 'TiledPyramid', 'read_description',
           'write_pyramid', 'crop_window', 'level_factor', 'level_slice', 'ScaledWindows',
           'SOURCES', 'image_source', 'cut_scaled_window', 'file_chip_cutter']
