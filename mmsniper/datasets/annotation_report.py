"""The annotation report of a :class:`~mmsniper.datasets.SniperDataset` build.

An adapter over the shared policy (:mod:`mmsniper.annotations`): it counts what the
annotation file holds against what the wrapped dataset kept and logs it ONCE per build
through mmengine's logger, e.g.::

    annotations: 4 of 120 boxes of data/x/train.json not used: 2 non-finite (ann ids 17 in
    img 3, 23 in img 3), 2 unknown category (ann ids 5 in img 1, 9 in img 2)

Where the counts come from:

* COCO-format datasets (MMDetection's ``CocoDataset`` and its subclasses, ``ann_file`` a
  ``.json``): ``CocoDataset`` drops several kinds before the wrapper sees them and keeps no
  annotation ids, so the JSON the dataset was built from is read once more and every
  annotation classified (annotation and image ids), with the dataset's ``metainfo``
  classes and the images it kept. The boxes the policy says a run uses are compared with
  the instances the dataset kept, image by image; a difference is reported as a note
  naming the images (a rule of that dataset class this check does not model). Cost: one
  more ``json.load`` of the file (see the README's "Data checks").
* any other dataset type: only what its parser exposes, ``data_info['instances']``, checked
  by the wrapper itself (ids ``img <img_id> box <index>``); what the parser dropped is not
  seen.

For every dataset type the wrapper leaves out of planning AND of the pipeline the boxes it
cannot plan with: non-finite coordinates, zero or negative size, no overlap with the image
(:class:`InstanceCheck`, one vectorised pass); ``CocoDataset`` itself keeps e.g.
``bbox = [10, 10, inf, 20]``.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from ..annotations import AnnotationAudit, AnnotationError, audit_coco, classify_boxes, used

#: What strict mode tells the user to do.
STRICT_HINT = ('Fix or remove these annotations (tools/analysis_tools/check_dataset.py lists '
               'them), or set train_dataloader.dataset.strict_annotations=False to train '
               'without them (they are then counted and reported, as above).')


class InstanceCheck:
    """The wrapper's own check of the instances a dataset exposes (any dataset type).

    One vectorised pass over every image's boxes after ``SniperDataset.full_init`` read
    them (:meth:`run`). ``dropped`` maps image index -> keep mask for the images with a box
    left out (``SniperDataset.__getitem__`` removes those boxes before the pipeline);
    ``audit`` counts them (ids ``img <img_id> box <index>``).
    """

    def __init__(self) -> None:
        self.audit = AnnotationAudit("the dataset's instances", box_id_word='')
        self.dropped: Dict[int, np.ndarray] = {}

    @classmethod
    def run(cls, boxes: Sequence[np.ndarray], sizes: np.ndarray,
            img_ids: Sequence[Any]) -> InstanceCheck:
        """Check ``boxes[i]`` (``ndarray[n_i, 4]`` ORIGINAL ``x1, y1, x2, y2``) of every
        image ``i`` of annotated size ``sizes[i] = (w, h)``; keep what chips can be planned
        with (finite, positive size, overlapping the image)."""
        self = cls()
        counts = np.asarray([len(b) for b in boxes], dtype=np.int64)
        self.audit.total_boxes = int(counts.sum())
        self.audit.total_images = len(boxes)
        if not self.audit.total_boxes:
            return self
        b = np.concatenate([np.asarray(x, np.float64).reshape(-1, 4) for x in boxes])
        image = np.repeat(np.arange(len(boxes)), counts)
        with np.errstate(invalid='ignore'):
            xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
        codes = classify_boxes(xywh, np.asarray(sizes, np.float64)[image], min_side=0.0)
        bad = np.flatnonzero(codes != 0)
        if len(bad) == 0:
            return self
        starts = np.concatenate([[0], np.cumsum(counts)])
        names = {int(k): f'img {img_ids[image[k]]} box {k - starts[image[k]]}' for k in bad}
        self.audit.add_codes(codes, names)
        for i in np.unique(image[bad]).tolist():
            self.dropped[i] = codes[starts[i]:starts[i + 1]] == 0
        return self


def coco_json(dataset: Any) -> Optional[str]:
    """The JSON file a COCO-format dataset was built from, else ``None``."""
    from mmdet.datasets import CocoDataset

    ann = getattr(dataset, 'ann_file', None)
    if isinstance(dataset, CocoDataset) and isinstance(ann, str) and ann.endswith('.json'):
        return ann
    return None


def dataset_audit(dataset: Any, img_ids: List[Any], used_counts: np.ndarray,
                  check: InstanceCheck) -> AnnotationAudit:
    """The run's :class:`~mmsniper.annotations.AnnotationAudit` (see the module doc).

    Args:
        dataset (BaseDataset): the wrapped dataset, fully initialised.
        img_ids (list): ``img_id`` of every image the dataset kept, dataset order.
        used_counts (ndarray[I] int): boxes the wrapper plans with per image (crowd included).
        check (InstanceCheck): the wrapper's own check, filled while reading.
    """
    path = coco_json(dataset)
    if path is None:
        return check.audit
    from mmengine.fileio import get_local_path

    with get_local_path(path, backend_args=getattr(dataset, 'backend_args', None)) as local:
        with open(local, 'rb') as f:
            data = json.load(f)
    classes = dataset.metainfo.get('classes')
    coco = audit_coco(data, path, classes=list(classes) if classes else None,
                      used_image_ids=img_ids)
    del data
    audit = coco.audit
    for problem in coco.file_problems:
        audit.note(problem)
    # The file's usable boxes against what the dataset kept, image by image.
    ok = used(coco.codes)
    expected = Counter(i for i, u in zip(coco.ann_image_ids, ok.tolist()) if u)
    differ = [(i, int(n), expected.get(i, 0)) for i, n in zip(img_ids, used_counts.tolist())
              if n != expected.get(i, 0)]
    if differ:
        more = sum(max(0, n - e) for _, n, e in differ)
        fewer = sum(max(0, e - n) for _, n, e in differ)
        audit.note(f'{type(dataset).__name__} holds {fewer} boxes fewer and {more} more than '
                   f'the file\'s usable ones on {len(differ)} images (img ids '
                   f'{", ".join(str(i) for i, _, _ in differ[:audit.max_ids])}'
                   f'{", ..." if len(differ) > audit.max_ids else ""}): a rule of that '
                   'dataset class this check does not model')
    check_masks_loadable(audit, dataset)
    return audit


def loads_masks(dataset: Any) -> bool:
    """Whether ``dataset``'s pipeline loads instance masks (``LoadAnnotations(with_mask=
    True)``)."""
    transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', None) or []
    return any(bool(getattr(t, 'with_mask', False)) for t in transforms)


def check_masks_loadable(audit: AnnotationAudit, dataset: Any) -> None:
    """Stop at build, naming the ids, when the pipeline loads masks that mmdet cannot load
    (an RLE of another size than its image: ``BitmapMasks`` would fail in a data worker).
    Box-only runs and the chip tools just count them."""
    if audit.count('bad_mask_rle') and loads_masks(dataset):
        raise AnnotationError(
            f'{audit.report()}\nthe pipeline loads masks (LoadAnnotations(with_mask=True)) '
            'and MMDetection cannot load an RLE mask whose size is not its image\'s '
            '[height, width]: fix or remove those masks (first ids above; '
            'tools/analysis_tools/check_dataset.py lists them)')


def log_and_check(audit: AnnotationAudit, strict: bool) -> None:
    """Log the report once (WARNING when anything is left out or noted) and apply strict."""
    level = 30 if (audit.boxes_not_used or audit.errors or audit.notes) else 20
    print_log(audit.report(), logger='current', level=level)
    audit.check(strict, STRICT_HINT)
