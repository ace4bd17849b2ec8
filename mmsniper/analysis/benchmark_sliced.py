"""Sliced inference at equal work: mmsniper's chip grid against SAHI's ``get_sliced_prediction``.

Behind ``tools/analysis_tools/benchmark_sliced_inference.py`` (see
``docs/reports/sliced_inference.md``). Both sides get, per image:

- the same detector: one config and one checkpoint file (written here: random weights
  from a seed, or a given checkpoint), the same ``score_thr``;
- the same decoded pixels (``mmcv.imread``, BGR; SAHI gets them as RGB, as it expects);
- the same slices: SAHI's ``slice_image`` windows (``slice_size``, ``overlap_ratio``),
  which mmsniper's grid reproduces with ``chip_cfg.layout='stride'`` and
  ``overlap = int(overlap_ratio * slice_size)``; every chip detection goes to the merger
  (``chip_cfg.keep='all'``, as SAHI does);
- the same merger: SAHI's ``postprocess_type`` / ``match_metric`` / ``match_threshold`` /
  ``class_agnostic``, and mmsniper's registered twin (:class:`GreedyNMMMerger`, ...);
- standard prediction off or on: SAHI's whole image through its test pipeline's
  ``Resize`` to ``slice_size``; mmsniper's pyramid then has a second, whole-image level
  at the same size.

SAHI runs through its own MMDetection wrapper (``sahi.models.mmdet.MmdetDetectionModel``,
i.e. MMDetection's ``DetInferencer``), one slice per forward pass, as it documents.

Measured per arm (each arm in its own process, so each peak resident memory is its own):
seconds per image from decoded pixels to merged detections, the time inside the
detector's ``predict`` (backbone, heads, per-chip NMS: the network's own forward
passes), the time of the merger, the peak resident memory while the images ran (Linux
``VmHWM``, reset after the model was built and warmed up) and its rise over the
resident memory at that point (each image is decoded inside that window, before its
timed run). Agreement: detections matched one to one (same label,
IoU >= 0.9, greedy by IoU), the share matched and the score differences of the matches.
"""
from __future__ import annotations

import functools
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

import numpy as np

from .benchmark import rss_mb

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'scaleshapes', 'faster_r18_scaleshapes.py')
#: SAHI's postprocess types and mmsniper's registered mergers for them.
MERGER_OF = {'NMS': 'MatchNMSMerger', 'GREEDYNMM': 'GreedyNMMMerger', 'NMM': 'NMMMerger'}
SAHI_CLASS_OF = {'NMS': 'NMSPostprocess', 'GREEDYNMM': 'GreedyNMMPostprocess',
                 'NMM': 'NMMPostprocess'}


def tiled_test_image(side: int, tile: int = 1000) -> np.ndarray:
    """A ``side x side`` BGR image tiled from ScaleShapes pictures (objects of all sizes).

    Args:
        side (int): width and height in pixels.
        tile (int): side of each ScaleShapes picture, resized.

    Returns:
        ndarray[side, side, 3] uint8.
    """
    import cv2

    from ..generated.scaleshapes import render_scaleshapes_image

    tiles = [cv2.resize(render_scaleshapes_image(1, 'bench', i, large_image_share=0.0).image,
                        (tile, tile)) for i in range(4)]
    img = np.empty((side, side, 3), np.uint8)
    for y in range(0, side, tile):
        for x in range(0, side, tile):
            t = tiles[(x // tile + 2 * (y // tile)) % 4]
            img[y:y + tile, x:x + tile] = t[:side - y, :side - x]
    return img


def write_model(work_dir: str, config: str = DEFAULT_CONFIG, checkpoint: str | None = None,
                score_thr: float = 0.05, slice_size: int = 512, seed: int = 0) -> dict:
    """The detector both sides load: a config file and a checkpoint file in ``work_dir``.

    The config's model with ``test_cfg`` score threshold ``score_thr``, and a test
    pipeline that SAHI's wrapper accepts (``LoadImageFromFile``, ``Resize`` to
    ``slice_size`` keeping the ratio: slices pass unchanged, the whole image for standard
    prediction is shrunk to ``slice_size``).

    Args:
        work_dir (str): where the files go.
        config (str): the config whose ``model`` is used.
        checkpoint (str, optional): its weights; None: random weights from ``seed``.
        score_thr (float): the detector's score threshold (and SAHI's
            ``confidence_threshold``).
        slice_size (int): slice side in pixels.
        seed (int): torch seed of the random weights.

    Returns:
        dict: ``config`` and ``checkpoint`` paths, ``classes``, ``weights``
        (``'random'`` or the checkpoint given).
    """
    import torch
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    import mmsniper  # noqa: F401  (registration)

    MMLogger.get_instance('benchmark_sliced', log_level='WARNING')  # no weight-init report
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = cfg.model
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.init_cfg = None
    test_cfg = model_cfg.get('test_cfg') or {}
    if 'rcnn' in test_cfg:
        test_cfg.rcnn.score_thr = score_thr
    else:
        test_cfg.score_thr = score_thr
    torch.manual_seed(seed)
    det = MODELS.build(model_cfg)
    if checkpoint:
        load_checkpoint(det, checkpoint, map_location='cpu')
    else:
        det.init_weights()
    num_classes = _num_classes(model_cfg)
    classes = tuple(f'class{i}' for i in range(num_classes))
    out = Config(dict(
        default_scope=cfg.get('default_scope', 'mmdet'),
        custom_imports=dict(imports=['mmsniper'], allow_failed_imports=False),
        model=model_cfg.to_dict(),
        test_dataloader=dict(dataset=dict(type='CocoDataset', metainfo=dict(classes=classes),
                                          pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(slice_size, slice_size), keep_ratio=True),
            dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                                  'img_shape', 'scale_factor'))])),
        train_dataloader=dict(dataset=dict(type='CocoDataset', pipeline=[])),
        visualizer=dict(type='DetLocalVisualizer')))
    os.makedirs(work_dir, exist_ok=True)
    cfg_file, ckpt_file = osp.join(work_dir, 'model.py'), osp.join(work_dir, 'model.pth')
    out.dump(cfg_file)
    torch.save(dict(state_dict=det.state_dict(),
                    meta=dict(dataset_meta=dict(classes=list(classes)))), ckpt_file)
    return dict(config=cfg_file, checkpoint=ckpt_file, classes=list(classes),
                weights=checkpoint or f'random (torch seed {seed})')


def _num_classes(model_cfg: Any) -> int:
    for path in (('roi_head', 'bbox_head'), ('bbox_head',)):
        node = model_cfg
        for key in path:
            node = node.get(key) if hasattr(node, 'get') else None
            if isinstance(node, list):
                node = node[-1]
        if node is not None and 'num_classes' in node:
            return int(node['num_classes'])
    raise ValueError('the config\'s model names no num_classes in roi_head.bbox_head or '
                     'bbox_head; give a detector config')


def _load_image(image: str) -> np.ndarray:
    """BGR pixels of an image file, or of ``generated:SIDE``."""
    import mmcv

    if image.startswith('generated:'):
        return tiled_test_image(int(image.split(':', 1)[1]))
    img = mmcv.imread(image)
    if img is None:
        raise FileNotFoundError(f'image {image!r} cannot be read')
    return img


def _reset_peak() -> bool:
    """Reset the process's peak resident memory (Linux ``VmHWM``); False if it cannot."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _peak_since_reset_mb() -> float:
    """Peak resident memory (``VmHWM``) since :func:`_reset_peak`, MB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    raise OSError('/proc/self/status has no VmHWM')


class _Timer:
    """Wraps a bound method; adds its wall time to ``total``."""

    def __init__(self, obj: Any, name: str) -> None:
        self.total, self.calls = 0.0, 0
        inner = getattr(obj, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - t0
                self.calls += 1

        setattr(obj, name, timed)


def _merge_kwargs(spec: dict) -> dict:
    return dict(match_metric=spec['match_metric'], match_threshold=spec['match_threshold'],
                class_agnostic=spec['class_agnostic'])


def _mmsniper_arm(spec: dict) -> tuple[Any, Any, Any]:
    """Build mmsniper's side: ``(run(img) -> (boxes, scores, labels), forward timer,
    merge timer)``."""
    import torch
    from mmengine.config import Config
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    import mmsniper  # noqa: F401
    from mmsniper.datasets import PYRAMID_META_KEYS

    cfg = Config.fromfile(spec['config'])
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    det = MODELS.build(cfg.model)
    load_checkpoint(det, spec['checkpoint'], map_location='cpu', logger='silent')
    size, ratio = spec['slice_size'], spec['overlap_ratio']
    model = MODELS.build(dict(
        type='SniperTTAModel', module=det, max_per_img=10 ** 9,
        merger=dict(type=MERGER_OF[spec['postprocess_type']], **_merge_kwargs(spec)),
        chip_cfg=dict(chip_size=size, overlap=int(ratio * size), layout='stride',
                      keep='all', batch_size=spec['batch_size'])))
    model.to(spec['device']).eval()
    levels = [dict(type='PyramidResize', scale=1.0, level=0, test_range=(-1, -1),
                   max_pixels=size * size - 1)]
    if spec['standard_pred']:  # the whole image as SAHI's Resize shrinks it
        levels.append(dict(type='PyramidResize', scale=(size, size), level=1,
                           test_range=(-1, -1)))
    pipeline = Compose([dict(type='mmdet.LoadImageFromNDArray'),
                        dict(type='PyramidTestTimeAug', transforms=[
                            levels, [dict(type='PackPyramidInputs',
                                          meta_keys=PYRAMID_META_KEYS)]])])
    forward = _Timer(det, 'predict')
    merge = _Timer(model, 'merger')

    def run(img: np.ndarray):
        data = pseudo_collate([pipeline(dict(img=img, img_id=0))])
        with torch.no_grad():
            pred = model.test_step(data)[0].pred_instances
        return (pred.bboxes.cpu().numpy(), pred.scores.cpu().numpy(),
                pred.labels.cpu().numpy())

    return run, forward, merge


def _sahi_arm(spec: dict) -> tuple[Any, Any, Any]:
    """SAHI's side through its own MMDetection wrapper."""
    import sahi.postprocess.combine as combine
    from sahi.models.mmdet import MmdetDetectionModel
    from sahi.predict import get_sliced_prediction

    import mmsniper  # noqa: F401  (the config's model types)

    model = MmdetDetectionModel(model_path=spec['checkpoint'], config_path=spec['config'],
                                device=spec['device'],
                                confidence_threshold=spec['score_thr'],
                                image_size=spec['slice_size'])
    forward = _Timer(model.model.model, 'predict')
    # A class attribute: every postprocess instance SAHI makes is timed.
    merge = _Timer(getattr(combine, SAHI_CLASS_OF[spec['postprocess_type']]), '__call__')
    size, ratio = spec['slice_size'], spec['overlap_ratio']

    def run(img: np.ndarray):  # RGB, as SAHI takes arrays
        res = get_sliced_prediction(
            img, model, slice_height=size, slice_width=size,
            overlap_height_ratio=ratio, overlap_width_ratio=ratio,
            perform_standard_pred=spec['standard_pred'],
            postprocess_type=spec['postprocess_type'],
            postprocess_match_metric=spec['match_metric'],
            postprocess_match_threshold=spec['match_threshold'],
            postprocess_class_agnostic=spec['class_agnostic'], verbose=0,
            force_postprocess_type=True)  # keep the merger asked for at a low threshold
        preds = res.object_prediction_list
        boxes = np.array([p.bbox.to_xyxy() for p in preds], np.float64).reshape(-1, 4)
        scores = np.array([p.score.value for p in preds], np.float64)
        labels = np.array([p.category.id for p in preds], np.int64)
        return boxes, scores, labels

    return run, forward, merge


def run_arm(spec: dict) -> dict:
    """One arm (``spec['arm']``: ``'mmsniper'`` or ``'sahi'``) over ``spec['images']``.

    Returns:
        dict: per-image seconds, forward and merge seconds, detections (lists), peak RSS.
    """
    import cv2
    import torch

    torch.set_num_threads(spec['threads'])
    torch.manual_seed(0)
    build = _mmsniper_arm if spec['arm'] == 'mmsniper' else _sahi_arm
    run, forward, merge = build(spec)
    warm = _load_image(spec['images'][0])[:spec['slice_size'] * 2, :spec['slice_size'] * 2]
    # One-off set-up (kernels, lazy imports): not timed.
    run(np.ascontiguousarray(warm[:, :, ::-1] if spec['arm'] == 'sahi' else warm))
    rss_before = rss_mb()
    if not _reset_peak():  # then the peak includes building the model
        print('benchmark_sliced: cannot reset the peak RSS (/proc/self/clear_refs)')
    out = dict(arm=spec['arm'], standard_pred=spec['standard_pred'], images=[])
    for image in spec['images']:
        img = _load_image(image)
        if spec['arm'] == 'sahi':  # SAHI takes RGB arrays: converted in place, untimed
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)
        forward.total = merge.total = 0.0
        t0 = time.perf_counter()
        boxes, scores, labels = run(img)
        seconds = time.perf_counter() - t0
        out['images'].append(dict(
            image=image, shape=list(img.shape[:2]), seconds=seconds, forward_s=forward.total,
            merge_s=merge.total, boxes=np.asarray(boxes, np.float64).round(3).tolist(),
            scores=np.asarray(scores, np.float64).tolist(),
            labels=np.asarray(labels).astype(int).tolist()))
        del img
    out.update(peak_rss_mb=_peak_since_reset_mb(), rss_before_mb=rss_before,
               load=list(os.getloadavg()))
    return out


def agreement(a: dict, b: dict, iou: float = 0.9) -> dict:
    """How far two detection sets of one image agree.

    Args:
        a, b (dict): ``boxes`` ``[N, 4]`` ``(x1, y1, x2, y2)`` ORIGINAL pixels, ``scores``,
            ``labels``.
        iou (float): least IoU of a match (same label, one to one, greedy by IoU).

    Returns:
        dict: ``n_a``, ``n_b``, ``matched`` (pairs), ``matched_share`` (matched /
        max(n_a, n_b); 1 for two empty sets), ``score_diff_mean`` / ``score_diff_max``
        (absolute, over the matches).
    """
    from ..chips.match_merge import matching_pairs, pair_metric

    ba = np.asarray(a['boxes'], np.float64).reshape(-1, 4)
    bb = np.asarray(b['boxes'], np.float64).reshape(-1, 4)
    na, nb = len(ba), len(bb)
    boxes = np.concatenate([ba, bb]).astype(np.float32)
    labels = np.concatenate([a['labels'], b['labels']]).astype(np.int64)
    p, q = matching_pairs(boxes, labels, 'IOU', iou)
    cross = (p < na) & (q >= na)
    p, q = p[cross], q[cross]
    order = np.argsort(-pair_metric(boxes.astype(np.float64), p, q, 'IOU'), kind='stable')
    used_a, used_b, pairs = set(), set(), []
    for i, j in zip(p[order].tolist(), q[order].tolist()):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j - na))
    diffs = np.array([abs(a['scores'][i] - b['scores'][j]) for i, j in pairs])
    return dict(n_a=na, n_b=nb, matched=len(pairs),
                matched_share=len(pairs) / max(na, nb) if max(na, nb) else 1.0,
                score_diff_mean=float(diffs.mean()) if len(diffs) else 0.0,
                score_diff_max=float(diffs.max()) if len(diffs) else 0.0)


def summarize(ours: dict, sahi: dict) -> dict:
    """Ratios of one pair of arms (same images, same standard_pred)."""
    def total(arm: dict, key: str) -> float:
        return sum(im[key] for im in arm['images'])

    n = len(ours['images'])
    agree = [agreement(x, y) for x, y in zip(ours['images'], sahi['images'])]
    row = dict(images=n, standard_pred=ours['standard_pred'])
    for name, arm in (('mmsniper', ours), ('sahi', sahi)):
        sec, fwd = total(arm, 'seconds'), total(arm, 'forward_s')
        row[name] = dict(s_per_img=sec / n, forward_s_per_img=fwd / n,
                         merge_s_per_img=total(arm, 'merge_s') / n,
                         overhead_share=(sec - fwd) / fwd if fwd else None,
                         peak_rss_mb=arm.get('peak_rss_mb'),
                         rss_rise_mb=(arm['peak_rss_mb'] - arm['rss_before_mb'])
                         if arm.get('peak_rss_mb') is not None else None,
                         dets_per_img=sum(len(im['scores']) for im in arm['images']) / n,
                         load=arm.get('load'))
    row['speedup'] = row['sahi']['s_per_img'] / row['mmsniper']['s_per_img']
    if row['mmsniper']['peak_rss_mb'] is not None:
        row['peak_rss_ratio'] = row['mmsniper']['peak_rss_mb'] / row['sahi']['peak_rss_mb']
        row['rss_rise_ratio'] = (row['mmsniper']['rss_rise_mb'] /
                                 max(row['sahi']['rss_rise_mb'], 1e-9))
    row['matched_share'] = float(np.mean([g['matched_share'] for g in agree]))
    row['matched_share_min'] = float(min(g['matched_share'] for g in agree))
    row['score_diff_mean'] = float(np.mean([g['score_diff_mean'] for g in agree]))
    row['score_diff_max'] = float(max(g['score_diff_max'] for g in agree))
    return row


def _run_arm_process(spec: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, out_file = osp.join(tmp, 'spec.json'), osp.join(tmp, 'out.json')
        with open(spec_file, 'w') as f:
            json.dump(spec, f)
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
        subprocess.run([sys.executable, '-m', 'mmsniper.analysis.benchmark_sliced', spec_file,
                        out_file], check=True, env=env, cwd=REPO)
        with open(out_file) as f:
            return json.load(f)


def benchmark_sliced(images: Sequence[str], work_dir: str, config: str = DEFAULT_CONFIG,
                     checkpoint: str | None = None, slice_size: int = 512,
                     overlap_ratio: float = 0.2, postprocess_type: str = 'GREEDYNMM',
                     match_metric: str = 'IOS', match_threshold: float = 0.5,
                     class_agnostic: bool = False, score_thr: float = 0.05,
                     standard_pred: Sequence[bool] = (False, True), batch_size: int = 4,
                     threads: int = 2, device: str = 'cpu', in_process: bool = False,
                     log: Any = print) -> dict:
    """mmsniper against SAHI on ``images`` at equal work (see the module docstring).

    Args:
        images (Sequence[str]): image files, or ``'generated:SIDE'`` for
            :func:`tiled_test_image`.
        work_dir (str): where the model files go.
        config, checkpoint, score_thr: the detector (:func:`write_model`).
        slice_size, overlap_ratio: SAHI's slicing (the same windows on both sides).
        postprocess_type, match_metric, match_threshold, class_agnostic: SAHI's merging
            (and mmsniper's registered twin).
        standard_pred (Sequence[bool]): SAHI's full-image prediction off / on, one pair
            of arms each.
        batch_size (int): mmsniper's chips per forward pass (SAHI's MMDetection
            wrapper takes one).
        threads (int): torch CPU threads of each arm.
        device (str): torch device.
        in_process (bool): run the arms in this process (fast, for tests; peak memory
            is then not per arm and is left out).
        log (callable): progress lines.

    Returns:
        dict: ``model`` (the files and weights used), ``settings``, ``rows`` (one per
        ``standard_pred``: :func:`summarize`), ``arms`` (raw).
    """
    if postprocess_type not in MERGER_OF:
        raise ValueError(f'postprocess_type: expected one of {sorted(MERGER_OF)}, got '
                         f'{postprocess_type!r}')
    model = write_model(work_dir, config, checkpoint, score_thr, slice_size)
    settings = dict(images=list(images), slice_size=slice_size, overlap_ratio=overlap_ratio,
                    postprocess_type=postprocess_type, match_metric=match_metric.upper(),
                    match_threshold=match_threshold, class_agnostic=class_agnostic,
                    score_thr=score_thr, batch_size=batch_size, threads=threads,
                    device=device)
    rows, arms = [], []
    for std in standard_pred:
        pair = {}
        for arm in ('mmsniper', 'sahi'):
            spec = dict(settings, arm=arm, standard_pred=bool(std), config=model['config'],
                        checkpoint=model['checkpoint'])
            log(f'{arm} (standard prediction {"on" if std else "off"}) on '
                f'{len(images)} image(s) ...')
            if in_process:
                pair[arm] = run_arm(spec)
                pair[arm]['peak_rss_mb'] = pair[arm]['rss_before_mb'] = None
            else:
                pair[arm] = _run_arm_process(spec)
        arms.append(pair)
        rows.append(summarize(pair['mmsniper'], pair['sahi']))
    return dict(model=model, settings=settings, rows=rows, arms=arms)


def format_rows(result: dict) -> str:
    """The table the tool prints."""
    lines = ['std pred | arm      | s/img  | forward s/img | beyond forward | merge s/img '
             '| dets/img | peak RSS MB (rise)',
             '---------|----------|--------|---------------|----------------|------------'
             '|----------|-------------------']
    for row in result['rows']:
        for name in ('mmsniper', 'sahi'):
            r = row[name]
            mem = ('-' if r['peak_rss_mb'] is None else
                   f'{r["peak_rss_mb"]:.0f} ({r["rss_rise_mb"]:.0f})')
            lines.append(f'{"on " if row["standard_pred"] else "off":8s} | {name:8s} | '
                         f'{r["s_per_img"]:6.2f} | {r["forward_s_per_img"]:13.2f} | '
                         f'{100 * r["overhead_share"]:13.1f}% | {r["merge_s_per_img"]:11.3f} '
                         f'| {r["dets_per_img"]:8.0f} | {mem}')
    lines.append('')
    for row in result['rows']:
        mem = ''
        if 'peak_rss_ratio' in row:
            mem = (f', peak RSS x{row["peak_rss_ratio"]:.2f} (rise '
                   f'x{row["rss_rise_ratio"]:.2f})')
        lines.append(f'standard prediction {"on " if row["standard_pred"] else "off"}: '
                     f'mmsniper {row["speedup"]:.2f}x faster than SAHI{mem}; '
                     f'{100 * row["matched_share"]:.2f}% of detections matched at IoU 0.9 '
                     f'(worst image {100 * row["matched_share_min"]:.2f}%), score difference '
                     f'mean {row["score_diff_mean"]:.2g} max {row["score_diff_max"]:.2g}')
    return '\n'.join(lines)


def merger_cost(counts: Sequence[int] = (1000, 10_000, 100_000),
                postprocess_type: str = 'GREEDYNMM', match_metric: str = 'IOS',
                match_threshold: float = 0.5, class_agnostic: bool = False,
                classes: int = 1, side: int = 8000, repeat: int = 3, seed: int = 0) -> list:
    """Seconds to merge ``n`` detections of one image: mmsniper's merger against SAHI's
    postprocess class (on its ObjectPrediction list, as ``get_sliced_prediction`` runs
    it) and against SAHI's array function alone (``batched_*`` / ``*`` on the ``(N, 6)``
    array, its backend's part). One thread, best of ``repeat``; the kept counts are
    compared.

    The detections: clusters of 1-8 jittered copies around ``n / 4`` objects of sizes
    8-200 px over a ``side x side`` image, ``classes`` labels, scores in (0, 1).
    """
    import torch
    from sahi.postprocess import combine
    from sahi.prediction import ObjectPrediction

    from ..models.mergers import build_merger

    out = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for n in counts:
            boxes, scores, labels = cluster_detections(n, classes, side, seed)
            ours = build_merger(dict(type=MERGER_OF[postprocess_type], match_metric=match_metric,
                                     match_threshold=match_threshold,
                                     class_agnostic=class_agnostic))
            tb, ts, tl = (torch.from_numpy(boxes), torch.from_numpy(scores),
                          torch.from_numpy(labels))
            t_ours = _best(functools.partial(ours, tb, ts, tl), repeat)
            kept_ours = len(ours(tb, ts, tl)[0])
            preds = [ObjectPrediction(bbox=b.tolist(), score=float(s), category_id=int(c),
                                      category_name=str(int(c)))
                     for b, s, c in zip(boxes, scores, labels)]
            post = getattr(combine, SAHI_CLASS_OF[postprocess_type])(
                match_threshold=match_threshold, match_metric=match_metric,
                class_agnostic=class_agnostic)
            sahi_repeat = 1 if n >= 50_000 else repeat
            # a fresh list each call: SAHI's merge writes merged predictions into it
            t_sahi = _best(lambda post=post, preds=preds: post(list(preds)), sahi_repeat)
            kept_sahi = len(post(list(preds))) if sahi_repeat > 1 else None
            arr = np.concatenate([boxes, scores[:, None], labels[:, None]], 1).astype(np.float32)
            fn = getattr(combine, {'NMS': 'nms', 'GREEDYNMM': 'greedy_nmm',
                                   'NMM': 'nmm'}[postprocess_type])
            if not class_agnostic:
                fn = getattr(combine, 'batched_' + fn.__name__)
            t_arr = _best(functools.partial(fn, arr, match_metric=match_metric,
                                            match_threshold=match_threshold), sahi_repeat)
            kept_arr = len(fn(arr, match_metric=match_metric, match_threshold=match_threshold))
            out.append(dict(n=n, mmsniper_s=t_ours, sahi_postprocess_s=t_sahi,
                            sahi_array_s=t_arr, kept_mmsniper=kept_ours,
                            kept_sahi=kept_sahi if kept_sahi is not None else kept_arr,
                            ratio_postprocess=t_sahi / t_ours, ratio_array=t_arr / t_ours))
    finally:
        torch.set_num_threads(threads)
    return out


def _best(fn: Any, repeat: int) -> float:
    best = float('inf')
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cluster_detections(n: int, classes: int = 1, side: int = 8000, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` detections as sliced inference gives them: clusters of jittered copies.

    Returns:
        tuple: ``boxes`` ndarray[n, 4] float64 ``(x1, y1, x2, y2)`` inside
        ``[0, side]``, ``scores`` ndarray[n] float64 in (0, 1) (distinct), ``labels``
        ndarray[n] int64.
    """
    rng = np.random.default_rng(seed)
    k = max(1, n // 4)
    centres = rng.random((k, 2)) * side
    sizes = np.exp(rng.normal(3.4, 0.6, (k, 1))).clip(8, 200)
    obj = rng.integers(0, k, n)
    c = centres[obj] + rng.normal(0, 1, (n, 2)) * sizes[obj] * 0.08
    half = sizes[obj] / 2 * (1 + 0.15 * rng.normal(0, 1, (n, 2)))
    boxes = np.concatenate([c - np.abs(half), c + np.abs(half)], 1).clip(0, side)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    scores = rng.random(n) * 0.98 + 0.01
    labels = rng.integers(0, classes, k)[obj].astype(np.int64)
    return boxes, scores, labels


if __name__ == '__main__':  # one arm in its own process (benchmark_sliced)
    with open(sys.argv[1]) as f:
        _spec = json.load(f)
    _result = run_arm(_spec)
    with open(sys.argv[2], 'w') as f:
        json.dump(_result, f)
