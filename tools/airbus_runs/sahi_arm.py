"""SAHI's side of the Airbus comparison, with the real ``sahi`` package (pinned in
requirements.txt): its slices for training, its sliced prediction for the test.

- :func:`prepare_slices`: ``sahi.slicing.slice_coco`` on the training split, 512 x 512
  slices with overlap 0.2 and SAHI's other defaults (``min_area_ratio`` 0.1, slices without
  aircraft kept), written once under ``DATA_ROOT/sahi_slices/``;
- :func:`sliced_predictions`: ``sahi.predict.get_sliced_prediction`` over every image of a
  COCO file through SAHI's own MMDetection wrapper (``sahi.models.mmdet.MmdetDetectionModel``,
  MMDetection's ``DetInferencer``) with ``get_sliced_prediction``'s defaults: standard
  (whole-image) prediction on, GREEDYNMM, IOS 0.5, class-aware. Run as a subprocess by
  ``sahi_predict.py`` (its own process: its own peak memory).

The one setting that is not SAHI's default: the wrapper's ``confidence_threshold`` (SAHI:
0.3) is the config's ``test_cfg.rcnn.score_thr`` (0.01), the threshold every other test way
of the comparison uses, since AP is computed over the whole score range.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional

SLICE_SIZE = 512
OVERLAP = 0.2
SLICE_NAME = 'train_512_02'


def prepare_slices(data_root: str, echo: bool = True) -> Dict[str, Any]:
    """SAHI's training slices of ``DATA_ROOT/annotations/train.json``; kept when present.

    Returns:
        dict: ``ann_file`` (``DATA_ROOT/sahi_slices/train_512_02_coco.json``), ``images``
        and ``boxes`` (slices and boxes in them), ``seconds`` (slicing wall clock, kept in
        ``slices_record.json`` across runs).
    """
    out_dir = osp.join(data_root, 'sahi_slices')
    ann = osp.join(out_dir, SLICE_NAME + '_coco.json')
    record = osp.join(out_dir, 'slices_record.json')
    if osp.isfile(ann) and osp.isfile(record):
        with open(record) as f:
            return json.load(f)
    from sahi.slicing import slice_coco

    if echo:
        print(f'slicing {data_root}/annotations/train.json with sahi.slicing.slice_coco '
              f'({SLICE_SIZE} px, overlap {OVERLAP}) into {out_dir} ...', flush=True)
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    coco, path = slice_coco(coco_annotation_file_path=osp.join(data_root, 'annotations',
                                                               'train.json'),
                            image_dir=osp.join(data_root, 'images'),
                            output_coco_annotation_file_name=SLICE_NAME, output_dir=out_dir,
                            slice_height=SLICE_SIZE, slice_width=SLICE_SIZE,
                            overlap_height_ratio=OVERLAP, overlap_width_ratio=OVERLAP)
    if osp.abspath(path) != osp.abspath(ann):
        raise RuntimeError(f'sahi.slicing.slice_coco wrote {path}, expected {ann}')
    rec = dict(ann_file=ann, images=len(coco['images']), boxes=len(coco['annotations']),
               seconds=time.perf_counter() - t0)
    with open(record, 'w') as f:
        json.dump(rec, f)
    return rec


def sliced_predictions(config: str, checkpoint: str, ann_file: str, img_dir: str,
                       out: str, device: str = 'cpu', score_thr: Optional[float] = None,
                       **sahi_options: Any) -> Dict[str, Any]:
    """SAHI's sliced prediction of every image of ``ann_file``; COCO results to ``out``.

    Args:
        config (str): an MMDetection config whose test pipeline SAHI's wrapper reads
            (``configs/airbus/sahi_faster_mnv2_airbus.py``: Resize to 512).
        checkpoint (str): weights of that architecture.
        ann_file (str): COCO file of the images (their ``file_name`` under ``img_dir``).
        out (str): where the detections go, COCO results: ``image_id``, ``category_id``,
            ``bbox`` ``[x, y, w, h]`` ORIGINAL pixels, ``score``.
        score_thr (float, optional): the wrapper's ``confidence_threshold``; default the
            config's ``test_cfg.rcnn.score_thr`` (0.01). Below 0.1, sahi 0.12.8's
            ``get_sliced_prediction`` replaces GREEDYNMM / IOS by NMS / IOU on its own
            (``LOW_MODEL_CONFIDENCE``, it logs "Switching postprocess type") unless
            ``force_postprocess_type=True``.
        **sahi_options: more ``get_sliced_prediction`` arguments (``perform_standard_pred``,
            ``postprocess_type``, ...): the comparison passes none (SAHI's defaults); the
            ablations of docs/reports/airbus_aircraft.md change one at a time.

    Returns:
        dict: ``images``, ``detections``, ``sec_per_img`` (median wall clock of one
        ``get_sliced_prediction`` call, the image file read included), ``seconds`` (list).
    """
    from mmengine.config import Config
    from sahi.models.mmdet import MmdetDetectionModel
    from sahi.predict import get_sliced_prediction

    import mmsniper  # noqa: F401  (the config's registered types)

    cfg = Config.fromfile(config)
    if score_thr is None:
        score_thr = cfg.model.test_cfg.rcnn.score_thr
    with open(ann_file) as f:
        gt = json.load(f)
    cat_ids = [c['id'] for c in sorted(gt['categories'], key=lambda c: c['id'])]
    model = MmdetDetectionModel(model_path=checkpoint, config_path=config, device=device,
                                confidence_threshold=score_thr)
    dets: List[dict] = []
    seconds: List[float] = []
    for im in gt['images']:
        path = osp.join(img_dir, im['file_name'])
        if not osp.isfile(path):
            raise FileNotFoundError(f'image id {im["id"]}: {path} not found (img_dir of '
                                    f'{ann_file})')
        t0 = time.perf_counter()
        res = get_sliced_prediction(path, model, slice_height=SLICE_SIZE,
                                    slice_width=SLICE_SIZE, overlap_height_ratio=OVERLAP,
                                    overlap_width_ratio=OVERLAP, verbose=0, **sahi_options)
        seconds.append(time.perf_counter() - t0)
        for p in res.object_prediction_list:
            x1, y1, x2, y2 = p.bbox.to_xyxy()
            dets.append(dict(image_id=im['id'], category_id=cat_ids[p.category.id],
                             bbox=[x1, y1, x2 - x1, y2 - y1], score=float(p.score.value)))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(dets, f)
    s = sorted(seconds)
    return dict(images=len(seconds), detections=len(dets),
                sec_per_img=s[len(s) // 2] if s else None, seconds=seconds)
