"""Inference on image files: the SNIPER pyramid (or single scale), COCO-style JSON, pictures.

The importable side of ``tools/infer.py``. Like MMDetection's ``DetInferencer`` it runs
the config's own test-time pipeline (``tta_pipeline`` with the ``tta_model`` wrapper, or
with ``tta=False`` the single-scale test pipeline and the bare detector) on images
without annotations, one image at a time. Very large images work: pyramid levels whose
scaled image exceeds ``PyramidResize``'s ``max_pixels`` run as batched chip grids
(see ``docs/inference.md``).

All boxes here are in ORIGINAL pixels (the image file's).
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
from typing import Any, Iterable, Iterator, NamedTuple, Sequence, Union

import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class InferenceModel(NamedTuple):
    """What :func:`init_inference_model` returns.

    Attributes:
        model (torch.nn.Module): the TTA wrapper around the detector (or the detector
            alone), in eval mode on its device.
        pipeline (list[dict]): the test-time pipeline config, annotations loading removed;
            its first transform loads the image from a file.
        classes (tuple[str, ...]): class names by label index.
        cfg (mmengine.Config): the config used.
    """

    model: Any
    pipeline: list
    classes: tuple
    cfg: Any


def _strip_annotations(transforms: list) -> list:
    """The pipeline without ``LoadAnnotations`` (also inside ``TestTimeAug``)."""
    out = []
    for t in transforms:
        kind = t.get('type') if isinstance(t, dict) else None
        if isinstance(kind, str) and kind.split('.')[-1] == 'LoadAnnotations':
            continue
        if isinstance(kind, str) and kind.split('.')[-1] == 'TestTimeAug':
            t = copy.deepcopy(t)
            t['transforms'] = [s for s in (_strip_annotations(list(stage))
                                           for stage in t['transforms']) if s]
        out.append(t)
    return out


def _test_pipeline(cfg: Any) -> list:
    data_cfg = cfg.test_dataloader.dataset
    while 'dataset' in data_cfg:  # dataset wrappers
        data_cfg = data_cfg['dataset']
    return copy.deepcopy(list(data_cfg.pipeline))


def _classes_from_cfg(cfg: Any) -> tuple | None:
    from mmdet.registry import DATASETS

    data_cfg = cfg.get('test_dataloader', {}).get('dataset', {})
    while 'dataset' in data_cfg:
        data_cfg = data_cfg['dataset']
    classes = (data_cfg.get('metainfo') or {}).get('classes')
    if classes is None and isinstance(data_cfg.get('type'), str):
        cls = DATASETS.get(data_cfg['type'])
        classes = getattr(cls, 'METAINFO', {}).get('classes')
    return tuple(classes) if classes is not None else None


def init_inference_model(config: Union[str, Any], checkpoint: str | None = None,
                         device: str = 'cpu', tta: bool = True,
                         cfg_options: dict | None = None) -> InferenceModel:
    """Build the detector from a config, load weights, wrap it for test-time augmentation.

    Args:
        config (str | mmengine.Config): the config (e.g. one inheriting
            ``configs/_base_/sniper_tta.py``).
        checkpoint (str, optional): weights to load; None keeps the random
            initialisation (for benchmarks), pretrained backbones are not downloaded.
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ...
        tta (bool): wrap the detector in ``cfg.tta_model`` and use ``cfg.tta_pipeline``
            (the SNIPER pyramid); False: the bare detector on the single-scale test
            pipeline.
        cfg_options (dict, optional): overrides merged into the config.

    Returns:
        InferenceModel: model, pipeline config, class names and config.
    """
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    import mmsniper  # noqa: F401  (registration, checkpoint allow-list)

    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = copy.deepcopy(cfg.model)
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.init_cfg = None  # never download pretrained weights here
    detector = MODELS.build(model_cfg)
    classes = None
    if checkpoint is not None:
        ckpt = load_checkpoint(detector, checkpoint, map_location='cpu')
        meta = (ckpt.get('meta') or {}).get('dataset_meta') or {}
        classes = meta.get('classes')
    classes = tuple(classes) if classes is not None else _classes_from_cfg(cfg)
    if classes is None:
        raise ValueError('class names: none in the checkpoint meta nor in '
                         'test_dataloader.dataset (metainfo.classes or a dataset type with '
                         'METAINFO)')
    detector.dataset_meta = {'classes': classes}
    if tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
        if missing:
            raise KeyError(f'tta=True needs {" and ".join(missing)} in the config; inherit '
                           'configs/_base_/sniper_tta.py or pass tta=False (--no-tta)')
        model = MODELS.build(dict(**copy.deepcopy(cfg.tta_model), module=detector))
        pipeline = copy.deepcopy(list(cfg.tta_pipeline))
    else:
        model, pipeline = detector, _test_pipeline(cfg)
    model.to(device).eval()
    return InferenceModel(model, _strip_annotations(pipeline), classes, cfg)


def list_images(paths: Iterable[str]) -> list[str]:
    """Image files named by ``paths``: files as given, folders expanded (sorted, not
    recursive) to their files with an image extension."""
    out = []
    for p in paths:
        if osp.isdir(p):
            out.extend(sorted(osp.join(p, f) for f in os.listdir(p)
                              if f.lower().endswith(IMAGE_EXTENSIONS)))
        elif osp.isfile(p):
            out.append(p)
        else:
            raise FileNotFoundError(f'image {p!r} does not exist')
    return out


def inference_images(model: Any, pipeline: list, images: Sequence[Union[str, np.ndarray]],
                     progress: bool = True) -> Iterator[Any]:
    """Run ``model`` on each image, one at a time.

    Args:
        model (torch.nn.Module): a detector or TTA model (``test_step``).
        pipeline (list[dict]): test-time pipeline config whose first transform loads
            the image (from a file; for arrays it is replaced by
            ``LoadImageFromNDArray``).
        images (Sequence[str | ndarray[H, W, 3] uint8 BGR]): paths or arrays.
        progress (bool): show an mmengine progress bar.

    Yields:
        DetDataSample: per image, ``pred_instances`` with ``bboxes`` Tensor[K, 4]
        ``(x1, y1, x2, y2)`` in ORIGINAL pixels, ``scores`` Tensor[K], ``labels``
        Tensor[K] int64; metainfo with ``ori_shape``.
    """
    import torch
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.utils import ProgressBar

    from_file = Compose(pipeline)
    from_array = Compose([dict(type='mmdet.LoadImageFromNDArray')] + list(pipeline[1:]))
    bar = ProgressBar(len(images)) if progress else None
    for i, image in enumerate(images):
        if isinstance(image, np.ndarray):
            data = from_array(dict(img=image, img_id=i))
        else:
            data = from_file(dict(img_path=image, img_id=i))
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([data]))[0]
        if bar is not None:
            bar.update()
        yield sample


def _palette(n: int) -> list[tuple[int, int, int]]:
    rng = np.random.default_rng(12345)
    return [tuple(int(c) for c in rng.integers(64, 256, 3)) for _ in range(max(n, 1))]


def draw_detections(img: np.ndarray, bboxes: np.ndarray, scores: np.ndarray,
                    labels: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """A copy of ``img`` with each box drawn and captioned ``class score``.

    Args:
        img (ndarray[H, W, 3] uint8): BGR image, ORIGINAL pixels.
        bboxes (ndarray[K, 4] float): ``(x1, y1, x2, y2)`` in ORIGINAL pixels.
        scores (ndarray[K] float), labels (ndarray[K] int): per box.
        classes (Sequence[str]): names by label.

    Returns:
        ndarray[H, W, 3] uint8: the drawing.
    """
    import cv2

    out = np.ascontiguousarray(img.copy())
    colors = _palette(len(classes))
    thick = max(1, round(max(out.shape[:2]) / 600))
    font = 0.4 * thick
    for (x1, y1, x2, y2), s, lb in zip(bboxes.tolist(), scores.tolist(), labels.tolist()):
        color = colors[lb % len(colors)]
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(out, p1, p2, color, thick)
        name = classes[lb] if 0 <= lb < len(classes) else str(lb)
        cv2.putText(out, f'{name} {s:.2f}', (p1[0], max(p1[1] - 3 * thick, 10 * thick)),
                    cv2.FONT_HERSHEY_SIMPLEX, font, color, max(1, thick // 2), cv2.LINE_AA)
    return out


def infer(config: Union[str, Any], checkpoint: str | None,
          images: Sequence[Union[str, np.ndarray]], out_dir: str, device: str = 'cpu',
          tta: bool = True, score_thr: float = 0.3, draw: bool = True,
          cfg_options: dict | None = None, progress: bool = True,
          model: InferenceModel | None = None) -> dict:
    """Detect objects in images; write ``detections.json`` and pictures to ``out_dir``.

    ``out_dir/detections.json`` is one COCO-style dict: ``images`` (``id``,
    ``file_name``, ``width``, ``height``), ``categories`` (``id`` = label index,
    ``name``) and ``annotations`` (``id``, ``image_id``, ``category_id``, ``bbox``
    ``[x, y, w, h]`` in ORIGINAL pixels, ``score``, ``area``); the ``annotations``
    list is a valid COCO results list. ``out_dir/vis/<name>.jpg`` shows the boxes.

    Args:
        config (str | Config): see :func:`init_inference_model`.
        checkpoint (str, optional): weights (None: random, for smoke tests).
        images (Sequence[str | ndarray]): image files or folders (expanded by
            :func:`list_images`), or BGR arrays.
        out_dir (str): output folder (created).
        device (str): torch device.
        tta (bool): the SNIPER pyramid (True) or single scale.
        score_thr (float): detections below this score are neither written nor drawn.
        draw (bool): write the pictures.
        cfg_options (dict, optional): config overrides.
        progress (bool): show a progress bar.
        model (InferenceModel, optional): an already built model (then ``config``,
            ``checkpoint``, ``device``, ``tta`` and ``cfg_options`` are unused).

    Returns:
        dict: the COCO-style dict written to ``detections.json``.
    """
    import mmcv

    if not (0.0 <= float(score_thr) <= 1.0):
        raise ValueError(f'score_thr: expected a value in [0, 1], got {score_thr!r}')
    if model is None:
        model = init_inference_model(config, checkpoint, device=device, tta=tta,
                                     cfg_options=cfg_options)
    # Folders expand to their image files, in place.
    expanded: list = []
    for im in images:
        expanded.extend([im] if isinstance(im, np.ndarray) else list_images([im]))
    os.makedirs(out_dir, exist_ok=True)
    if draw:
        os.makedirs(osp.join(out_dir, 'vis'), exist_ok=True)
    coco: dict = dict(images=[], annotations=[],
                      categories=[dict(id=i, name=n) for i, n in enumerate(model.classes)])
    used_names: set = set()
    for i, (image, sample) in enumerate(zip(expanded, inference_images(
            model.model, model.pipeline, expanded, progress=progress))):
        h, w = sample.metainfo['ori_shape'][:2]
        name = f'array_{i}' if isinstance(image, np.ndarray) else image
        coco['images'].append(dict(id=i, file_name=name, width=int(w), height=int(h)))
        pred = sample.pred_instances
        keep = pred.scores >= score_thr
        bboxes = pred.bboxes[keep].detach().cpu().numpy().astype(np.float64)
        scores = pred.scores[keep].detach().cpu().numpy().astype(np.float64)
        labels = pred.labels[keep].detach().cpu().numpy().astype(np.int64)
        for (x1, y1, x2, y2), s, lb in zip(bboxes.tolist(), scores.tolist(), labels.tolist()):
            bw, bh = x2 - x1, y2 - y1
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=i, category_id=int(lb),
                bbox=[round(x1, 2), round(y1, 2), round(bw, 2), round(bh, 2)],
                score=round(s, 5), area=round(bw * bh, 2)))
        if draw:
            img = image if isinstance(image, np.ndarray) else mmcv.imread(image)
            stem = osp.splitext(osp.basename(name))[0]
            vis_name = stem if stem not in used_names else f'{stem}_{i}'
            used_names.add(vis_name)
            mmcv.imwrite(draw_detections(img, bboxes, scores, labels, model.classes),
                         osp.join(out_dir, 'vis', f'{vis_name}.jpg'))
    with open(osp.join(out_dir, 'detections.json'), 'w') as f:
        json.dump(coco, f)
    return coco
