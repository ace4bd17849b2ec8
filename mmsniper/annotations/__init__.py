"""Annotation checks shared by training, the tools and the scale advisor (NumPy only).

:mod:`mmsniper.annotations.audit` holds the one policy for bad annotations: the kinds
(non-finite, zero/negative size, outside the image, unknown category, crowd, ...), their
counting with the first few ids, the one-line report and strict mode; and the check of a
decoded image's size against its annotation.
"""
from .audit import (
    BOX_KINDS,
    CODES,
    KINDS,
    MAX_IDS,
    AnnotationAudit,
    AnnotationError,
    CocoAudit,
    Kind,
    audit_coco,
    classify_boxes,
    format_ids,
    segmentation_problem,
    size_mismatch,
    used,
)

__all__ = ['AnnotationAudit', 'AnnotationError', 'CocoAudit', 'Kind', 'BOX_KINDS', 'CODES',
           'KINDS', 'MAX_IDS', 'audit_coco', 'classify_boxes', 'format_ids', 'segmentation_problem',
           'size_mismatch', 'used']
