"""Reading large images by window and resolution, and the tiled pyramid layout.

No MMDetection here (OpenCV, NumPy, PIL for JPEG headers): the loading transform
:class:`~mmsniper.datasets.LoadChipWindow`, ``ChipGenerator``, the inference chip grid,
the conversion tool and the loading benchmark all use it. See ``docs/large_images.md``.
"""
from .reader import (
    MAX_IMAGE_PIXELS,
    HeldLevel,
    ImageFileError,
    ImageSource,
    SourceCache,
    StaleImageError,
    decode,
    jpeg_header,
    open_image,
    pil_pixel_limit_lifted,
)
from .tiff import COMPRESSIONS, TiffFormatError, TiledPyramid, read_description, write_pyramid
from .windows import ScaledWindows, crop_window, level_factor, level_slice

__all__ = ['MAX_IMAGE_PIXELS', 'HeldLevel', 'ImageFileError', 'ImageSource', 'SourceCache',
           'StaleImageError', 'decode', 'jpeg_header', 'open_image', 'pil_pixel_limit_lifted',
           'COMPRESSIONS', 'TiffFormatError', 'TiledPyramid', 'read_description',
           'write_pyramid', 'crop_window', 'level_factor', 'level_slice', 'ScaledWindows']
