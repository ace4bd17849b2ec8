"""SNIPER's test-time pyramid: per-level valid ranges, pooled, merged by a registered merger.

Flow (``tools/test.py --tta`` or :func:`mmsniper.apis.inference.inference_images`)::

    TestTimeAug(PyramidResize per level [x RandomFlip]) -> SniperTTAModel.test_step
        per view: the detector on the whole scaled image, or -- for a view PyramidResize
                  left ORIGINAL (``pyramid_chips``) -- on a batched grid of chips
        per image (merge_preds): unflip, keep each view's detections whose
                  sqrt(w * h) in ORIGINAL pixels is in its level's test range (lo, hi]
                  (``pyramid_range``, written by PyramidResize from sniper.test_ranges),
                  pool all views, merge (MERGERS), keep max_per_img by score

Frames: detections leave the detector in ORIGINAL pixels (``rescale=True``; chips are
mapped back here), so the ranges and the merge work in ORIGINAL pixels.

Masks (Mask R-CNN, Cascade, HTC: any ``FCNMaskHead``): while the views run, the mask head
returns each detection's mask as its ``M x M`` probability patch over its box
(``mask_patches``) instead of pasting it into a full image. The patch follows its box
through the chip grid, the unflip, the range filter and the merger (the merger's index:
:func:`~mmsniper.models.mergers.merge_with_index`); only the ``max_per_img`` survivors are
pasted, once, in the ORIGINAL frame. So memory is one patch per detection per level plus
the output, never a full-image bitmap per detection per level. (A detector whose head
pastes anyway gives full masks: they are turned into patches per view.) See docs/masks.md.
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_flip, get_box_tensor
from mmengine.model import BaseTTAModel
from mmengine.registry import MODELS
from mmengine.structures import InstanceData
from torch import Tensor

from ..chips import (
    GRID_LAYOUTS,
    box_sizes,
    check_box_shape,
    chip_grid,
    grid_keep,
    min_overlap,
    normalize_ranges,
    range_mask,
    scaled_image_size,
)
from ..imagefiles.windows import cut_scaled_window, file_chip_cutter
from .mergers import build_merger, check_detections, merge_with_index

#: Chip grid settings used where ``chip_cfg`` leaves a key out.
DEFAULT_CHIP_CFG = dict(chip_size=1024, overlap=None, batch_size=4, border_tol=2.0,
                        layout='spread', keep='whole')


def level_range_mask(bboxes: Tensor, lo_hi: Sequence[float]) -> Tensor:
    """Which detections a pyramid level keeps: ``lo < sqrt(w * h) <= hi``.

    The reference's test-time convention (``(lo, hi]``; training uses ``[lo, hi)``):
    the chip engine's :func:`~mmsniper.chips.range_mask` with ``inclusive='right'`` on
    :func:`~mmsniper.chips.box_sizes`, in torch on the boxes' device.

    Args:
        bboxes (Tensor[N, 4] float): ``(x1, y1, x2, y2)`` in ORIGINAL pixels.
        lo_hi (tuple[float, float]): bounds in ORIGINAL pixels of ``sqrt(w * h)``;
            ``-1`` / None open (``lo`` open means 0: a zero-area box is never kept).

    Returns:
        Tensor[N] bool: True for the detections in range.
    """
    if not isinstance(bboxes, Tensor):
        raise ValueError(f'bboxes: expected a Tensor of shape (N, 4), got {type(bboxes).__name__}')
    check_box_shape(bboxes, 'bboxes')
    (lo, hi), = normalize_ranges([tuple(lo_hi)])
    return range_mask(box_sizes(bboxes), lo, hi, 'right')


def _as_sample_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _predict_patches(head: Any, mask_preds: Sequence[Tensor], results_list: list,
                     batch_img_metas: list, rcnn_test_cfg: Any, rescale: bool = False,
                     activate_map: bool = False) -> list:
    """``FCNMaskHead.predict_by_feat`` without the paste: each detection keeps its class's
    probability patch (``mask_patches`` Tensor[N, M, M] float, over its box) and the boxes
    go to ORIGINAL pixels as the paste would have put them (``rescale``)."""
    for preds, res, meta in zip(mask_preds, results_list, batch_img_metas):
        n = len(res)
        side = int(preds.shape[-1]) if isinstance(preds, Tensor) and preds.ndim == 4 else 28
        if n == 0:
            res.mask_patches = res.bboxes.new_zeros((0, side, side))
            continue
        probs = res.bboxes.new_tensor(preds) if activate_map else preds.sigmoid()
        if probs.shape[1] > 1 and not getattr(head, 'class_agnostic', False):
            probs = probs[torch.arange(n, device=probs.device), res.labels]
        else:
            probs = probs[:, 0]
        if rescale:
            res.bboxes = res.bboxes / res.bboxes.new_tensor(meta['scale_factor']).repeat(2)
        res.mask_patches = probs.float()
    return results_list


@contextlib.contextmanager
def mask_patches(module: torch.nn.Module) -> Iterator[bool]:
    """While active, every ``FCNMaskHead`` in ``module`` returns per-box patches
    (:func:`_predict_patches`) instead of full-image masks. Yields whether there is one."""
    from mmdet.models.roi_heads.mask_heads import FCNMaskHead

    heads = [m for m in module.modules() if isinstance(m, FCNMaskHead)]
    for head in heads:  # an instance attribute shadows the method, for this call only
        head.predict_by_feat = functools.partial(_predict_patches, head)
    try:
        yield bool(heads)
    finally:
        for head in heads:
            head.__dict__.pop('predict_by_feat', None)


def _patches_of(inst: InstanceData, bboxes: Tensor, side: int = 28) -> Optional[Tensor]:
    """A prediction's per-box mask patches: ``mask_patches``, or its full ``masks``
    (Tensor[N, H, W], same frame as ``bboxes``) cut out and resized to ``side`` (mmcv's
    RoIAlign); None when it has no masks."""
    if 'mask_patches' in inst:
        return inst.mask_patches
    if 'masks' not in inst:
        return None
    masks = inst.masks
    if len(masks) == 0:
        return bboxes.new_zeros((0, side, side))
    from mmcv.ops import roi_align

    masks = torch.as_tensor(masks, device=bboxes.device).float()[:, None]
    rois = torch.cat([torch.arange(len(bboxes), device=bboxes.device,
                                   dtype=bboxes.dtype)[:, None], bboxes], 1)
    return roi_align(masks, rois.float(), (side, side), 1.0, 0, 'avg', True)[:, 0]


def _flip_patches(patches: Tensor, direction: str) -> Tensor:
    """Patches of boxes flipped back: the patch flips with its box."""
    dims = {'horizontal': [2], 'vertical': [1], 'diagonal': [1, 2]}[direction]
    return patches.flip(dims)


def paste_patches(patches: Tensor, bboxes: Tensor, hw: tuple, threshold: float) -> Tensor:
    """Paste per-box probability patches into full masks, one at a time.

    Args:
        patches (Tensor[K, M, M] float): probabilities over each box.
        bboxes (Tensor[K, 4]): the boxes the patches cover, ORIGINAL pixels.
        hw (tuple[int, int]): ``(H, W)`` of the ORIGINAL image.
        threshold (float): ``mask_thr_binary``.

    Returns:
        Tensor[K, H, W] bool: as MMDetection's single-scale masks (one box's region
        resampled at a time: no K x H x W float buffer).
    """
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask

    h, w = int(hw[0]), int(hw[1])
    out = torch.zeros((len(patches), h, w), dtype=torch.bool, device=bboxes.device)
    for k in range(len(patches)):
        m, (sy, sx) = _do_paste_mask(patches[k:k + 1, None].float(), bboxes[k:k + 1].float(),
                                     h, w, skip_empty=True)
        out[k, sy, sx] = m[0] >= threshold
    return out


def _hwc_cutter(cut: Callable) -> Callable[[Sequence[int]], Tensor]:
    """A window cutter giving ``ndarray[h, w, C]`` turned into one giving ``Tensor[C, h, w]``."""
    return lambda win: torch.from_numpy(np.ascontiguousarray(cut(win))).permute(2, 0, 1)


def level_cutter(img: Union[Tensor, np.ndarray], size: tuple[int, int]
                 ) -> Callable[[Sequence[int]], Tensor]:
    """How to cut windows of one pyramid level of an image in memory.

    The image is converted once: a level at its own size is cut by views (no copy until
    a batch is stacked); a smaller level is resized once, as ``PyramidResize`` would
    (``mmcv.imresize``, bilinear); a larger one is resized window by window
    (:func:`cut_scaled_window`), so memory stays of the order of the chips.

    Args:
        img (Tensor[C, H, W] | ndarray[H, W, C]): the ORIGINAL image.
        size (tuple[int, int]): ``(w, h)`` of the level, SCALED pixels.

    Returns:
        callable: ``(x1, y1, x2, y2)`` in SCALED pixels ``-> Tensor[C, y2 - y1, x2 - x1]``
        (a view where possible).
    """
    import mmcv

    if not isinstance(img, Tensor) and any(st < 0 for st in img.strides):
        img = np.ascontiguousarray(img)  # a flipped view: torch takes no negative strides
    chw = img if isinstance(img, Tensor) else torch.from_numpy(img).permute(2, 0, 1)
    h, w = chw.shape[1:3]
    sw, sh = size
    if (sw, sh) == (w, h):
        level = chw
    elif sw * sh <= w * h:
        hwc = np.ascontiguousarray(chw.permute(1, 2, 0).cpu().numpy())
        level = torch.from_numpy(mmcv.imresize(hwc, (sw, sh)).reshape(sh, sw, -1)
                                 ).permute(2, 0, 1)
    else:
        hwc = chw.permute(1, 2, 0).cpu().numpy()
        return _hwc_cutter(lambda win: cut_scaled_window(hwc, win, (sw / w, sh / h)))
    return lambda win: level[:, int(win[1]):int(win[3]), int(win[0]):int(win[2])]


def detect_windows(detector: torch.nn.Module,
                   jobs: Sequence[tuple[Callable[[Sequence[int]], Tensor], np.ndarray]],
                   batch_size: int, same_shape: bool = True) -> list[list[DetDataSample]]:
    """Run a detector on windows of images, ``batch_size`` windows per forward pass.

    The one chip-batch routine of the TTA models (chip grids here, FocusChips in
    :mod:`~mmsniper.models.autofocus_tta`). Windows of all ``jobs`` share the batches;
    only one batch of pixels exists at a time. A batch of equal-size crops goes to the
    detector as one ``Tensor[B, C, h, w]``, which its data preprocessor converts and
    normalises in one operation.

    Args:
        detector (nn.Module): ``test_step(dict(inputs, data_samples))``; its outputs
            in CHIP pixels (each crop is its own image, ``scale_factor`` 1).
        jobs (Sequence[tuple]): per image, ``(cut, windows)``: ``cut(window) ->
            Tensor[C, h, w]`` and ``windows`` ndarray[K, 4] ``(x1, y1, x2, y2)`` whole
            numbers in the frame ``cut`` takes.
        batch_size (int): windows per forward pass.
        same_shape (bool): batch only windows of one shape together (stable order), so
            the padding, and hence any window's detections, never depend on the batch.
            False: windows in order, a batch padded to its largest (fewer passes for
            windows of many sizes).

    Returns:
        list[list[DetDataSample]]: per job, per window, the detector's prediction.
    """
    flat = [(j, k, tuple(int(v) for v in win)) for j, (_, wins) in enumerate(jobs)
            for k, win in enumerate(np.asarray(wins).reshape(-1, 4).tolist())]
    if same_shape:
        flat.sort(key=lambda f: (f[2][3] - f[2][1], f[2][2] - f[2][0]))
    out: list[list] = [[None] * len(np.asarray(wins).reshape(-1, 4)) for _, wins in jobs]
    start = 0
    while start < len(flat):
        part = flat[start:start + batch_size]
        if same_shape:
            shape = (part[0][2][3] - part[0][2][1], part[0][2][2] - part[0][2][0])
            part = [f for f in part if (f[2][3] - f[2][1], f[2][2] - f[2][0]) == shape]
        start += len(part)
        crops = [jobs[j][0](win) for j, _, win in part]
        samples = [DetDataSample(metainfo=dict(
            img_shape=tuple(c.shape[1:3]), ori_shape=tuple(c.shape[1:3]),
            scale_factor=(1.0, 1.0))) for c in crops]
        inputs = torch.stack(crops) if len({tuple(c.shape) for c in crops}) == 1 else \
            [c.contiguous() for c in crops]
        del crops
        preds = detector.test_step(dict(inputs=inputs, data_samples=samples))
        for (j, k, _), pred in zip(part, preds):
            out[j][k] = pred
    return out


@MODELS.register_module()
class SniperTTAModel(BaseTTAModel):
    """SNIPER inference: the image pyramid, per-level valid ranges, one merge.

    Registered in mmengine's root ``MODELS`` (as MMDetection's ``DetTTAModel``), so
    runners of any default scope (``'mmdet'`` included) find it. Pair it with a
    ``tta_pipeline`` of ``TestTimeAug`` over ``PyramidResize(scale=..., level=i,
    test_range=...)`` (optionally times ``RandomFlip``) whose ``PackDetInputs`` keeps
    ``PYRAMID_META_KEYS``: each view brings its level's test range (``pyramid_range``), so
    the model holds no copy of the test settings (they are ``sniper.test_scales`` and
    ``sniper.test_ranges``, which :class:`~mmsniper.engine.SniperRunner` writes into the
    pipeline).

    Views that ``PyramidResize`` left ORIGINAL because the scaled image would exceed its
    ``max_pixels`` are run as a grid of overlapping chips (:meth:`predict_chips`):
    ``chip_size`` squares of the scaled level, cut from the original and sent
    ``batch_size`` at a time, so memory is bounded by the chip batch. Detections that
    touch an interior chip side are fragments and dropped; of the copies of an object
    held whole by several chips, the chip whose core holds its centre keeps it
    (:mod:`mmsniper.chips.grid`). So an object straddling chips is found once.

    Args:
        module (dict | nn.Module): the detector (a config dict is built in ``MODELS``).
        merger (dict | callable): a merger config for ``MERGERS`` (or a built one).
            Default: the reference Gaussian Soft-NMS (sigma 0.55, drop below 0.001).
        max_per_img (int): detections kept per image after merging. Default 200.
        chip_cfg (dict, optional): chip grid settings, see :data:`DEFAULT_CHIP_CFG`:
            ``chip_size`` (scaled pixels), ``overlap`` (scaled pixels; None: the least
            that keeps the level's largest in-range object, ``min_overlap(hi * s)`` with
            ``hi`` the view's ``pyramid_range``,
            which needs a finite ``hi``), ``batch_size`` (chips per forward pass),
            ``border_tol`` (scaled pixels within which a box touches a chip side).
        data_preprocessor (dict | nn.Module, optional): see ``BaseTTAModel``.
    """

    def __init__(self, module: Union[dict, torch.nn.Module],
                 merger: Union[dict, Callable, None] = None, max_per_img: int = 200,
                 chip_cfg: dict | None = None, data_preprocessor: Any = None) -> None:
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        if merger is None:
            merger = dict(type='SoftNMSMerger', method='gaussian', sigma=0.55, min_score=1e-3)
        self.merger = build_merger(merger)
        if isinstance(max_per_img, bool) or not isinstance(max_per_img, int) or max_per_img < 1:
            raise ValueError(f'max_per_img: expected a positive int, got {max_per_img!r}')
        self.max_per_img = max_per_img
        unknown = set(chip_cfg or {}) - set(DEFAULT_CHIP_CFG)
        if unknown:
            raise ValueError(f'chip_cfg: unknown keys {sorted(unknown)}; expected some of '
                             f'{sorted(DEFAULT_CHIP_CFG)}')
        self.chip_cfg = {**DEFAULT_CHIP_CFG, **(chip_cfg or {})}
        bs = self.chip_cfg['batch_size']
        if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
            raise ValueError(f'chip_cfg.batch_size: expected a positive int, got {bs!r}')
        if self.chip_cfg['layout'] not in GRID_LAYOUTS:
            raise ValueError(f"chip_cfg.layout: expected one of {GRID_LAYOUTS}, got "
                             f"{self.chip_cfg['layout']!r}")
        if self.chip_cfg['keep'] not in ('whole', 'all'):
            raise ValueError("chip_cfg.keep: expected 'whole' (SNIPER: whole objects, each "
                             "once) or 'all' (every chip detection to the merger, as SAHI), "
                             f"got {self.chip_cfg['keep']!r}")

    # -- running the views -----------------------------------------------------------------
    def test_step(self, data: Union[dict, tuple, list]) -> list[DetDataSample]:
        """Predict every view of a TTA batch, then :meth:`merge_preds`.

        Args:
            data (dict): ``inputs`` and ``data_samples``, each a list over views of a
                list over images (``TestTimeAug`` + ``pseudo_collate``).

        Returns:
            list[DetDataSample]: one per image, ``pred_instances`` in ORIGINAL pixels.
        """
        if isinstance(data, dict):
            n = len(data['inputs'])
            views = [{key: value[i] for key, value in data.items()} for i in range(n)]
        elif isinstance(data, (tuple, list)):
            views = [dict(inputs=inputs, data_samples=samples)
                     for inputs, samples in zip(data[0], data[1])]
        else:
            raise TypeError(f'data: expected a dict, tuple or list, got {type(data).__name__}')
        with mask_patches(self.module):
            predictions = [self._predict_view(view) for view in views]
        return self.merge_preds([list(p) for p in zip(*predictions)])

    def _predict_view(self, view: dict) -> list[DetDataSample]:
        """One view of a batch: whole images through the detector, chip views by grid."""
        inputs, samples = list(view['inputs']), list(view['data_samples'])
        chip = [bool(s.metainfo.get('pyramid_chips', False)) for s in samples]
        if not any(chip):
            return list(self.module.test_step(dict(view)))
        out: list = [None] * len(samples)
        whole = [i for i, c in enumerate(chip) if not c]
        if whole:
            preds = self.module.test_step(dict(inputs=[inputs[i] for i in whole],
                                               data_samples=[samples[i] for i in whole]))
            for i, p in zip(whole, preds):
                out[i] = p
        chip_ids = [i for i, c in enumerate(chip) if c]
        for i, pred in zip(chip_ids, self.predict_chip_views(
                [(inputs[i], samples[i]) for i in chip_ids])):
            out[i] = pred
        return out

    def predict_chips(self, img: Union[Tensor, np.ndarray],
                      data_sample: DetDataSample) -> DetDataSample:
        """Detect one pyramid level of one image as a batched grid of chips.

        Args:
            img (Tensor[C, H, W] | ndarray[H, W, C]): the ORIGINAL image as the view
                holds it (flipped if the view is), any dtype the detector accepts.
            data_sample (DetDataSample): the view's sample; its metainfo needs
                ``pyramid_scale``, ``pyramid_level`` and ``pyramid_range`` (from
                ``PyramidResize``).

        Returns:
            DetDataSample: ``data_sample`` with ``pred_instances`` (``bboxes``
            Tensor[K, 4] ORIGINAL pixels of the view's image, ``scores``, ``labels``,
            and ``mask_patches`` Tensor[K, M, M] for a mask detector): with
            ``chip_cfg.keep='whole'`` the whole-object detections, each once; with
            ``'all'`` every chip's detections.
        """
        return self.predict_chip_views([(img, data_sample)])[0]

    def predict_chip_views(self, views: Sequence[tuple]) -> list[DetDataSample]:
        """:meth:`predict_chips` for several images' chip views at once: their chips go
        through the detector together, ``chip_cfg.batch_size`` at a time (chips of one
        shape per batch, so the batch never changes what a chip's detections are).

        Args:
            views (Sequence[tuple]): ``(img, data_sample)`` per image, as
                :meth:`predict_chips` takes them.

        Returns:
            list[DetDataSample]: per view, as :meth:`predict_chips` returns it.
        """
        jobs = [self._chip_job(img, sample) for img, sample in views]
        preds = detect_windows(self.module, [(j['cut'], j['grid'].windows) for j in jobs],
                               self.chip_cfg['batch_size'], same_shape=True)
        return [self._chip_result(job, p, sample)
                for job, p, (_, sample) in zip(jobs, preds, views)]

    def _chip_job(self, img: Union[Tensor, np.ndarray], data_sample: DetDataSample) -> dict:
        """The grid of one chip view and how to cut its windows (SCALED pixels)."""
        meta = data_sample.metainfo
        for key in ('pyramid_scale', 'pyramid_level', 'pyramid_range'):
            if key not in meta:
                raise KeyError(f'predict_chips: metainfo lacks {key!r}; make the view with '
                               'PyramidResize and keep PYRAMID_META_KEYS in PackDetInputs')
        # A large file LoadImageForPyramid left on disk (pyramid_chips 'file') is read by
        # window; an image in memory is converted (and, when shrunk, resized) once.
        on_disk = meta.get('pyramid_chips') == 'file'
        h, w = meta['ori_shape'][:2] if on_disk else (
            img.shape[1:3] if isinstance(img, Tensor) else img.shape[:2])
        sw, sh = scaled_image_size((w, h), meta['pyramid_scale'])
        sx, sy = sw / w, sh / h  # what PyramidResize's whole-image resize would use
        if on_disk:
            cut = _hwc_cutter(file_chip_cutter(meta, (sx, sy)))
        else:
            cut = level_cutter(img, (sw, sh))
        cfg = self.chip_cfg
        overlap = self._overlap(int(meta['pyramid_level']), tuple(meta['pyramid_range']),
                                max(sx, sy))
        grid = chip_grid((sw, sh), cfg['chip_size'], overlap, cfg['layout'])
        return dict(grid=grid, cut=cut, scale=(sx, sy))

    def _chip_result(self, job: dict, preds: list, data_sample: DetDataSample
                     ) -> DetDataSample:
        """One view's chip detections pooled in ORIGINAL pixels (``chip_cfg.keep``)."""
        grid, (sx, sy) = job['grid'], job['scale']
        boxes, scores, labels, index, patches = [], [], [], [], []
        for k, (pred, win) in enumerate(zip(preds, grid.windows)):
            inst = pred.pred_instances
            b = get_box_tensor(inst.bboxes)
            patches.append(_patches_of(inst, b))  # per box: frame-free
            boxes.append(b + b.new_tensor(win[:2].tolist() * 2))  # CHIP -> SCALED
            scores.append(inst.scores)
            labels.append(inst.labels)
            index.append(np.full(len(b), k, dtype=np.int64))
        bboxes = torch.cat(boxes)
        if self.chip_cfg['keep'] == 'whole':
            # Whole objects, each once: no fragments at interior sides, no duplicates.
            keep = grid_keep(grid, bboxes.detach().cpu().numpy(), np.concatenate(index),
                             float(self.chip_cfg['border_tol']))
            keep_t = torch.from_numpy(keep).to(bboxes.device)
        else:  # every detection; the merger resolves copies and fragments (SAHI's way)
            keep_t = torch.ones(len(bboxes), dtype=torch.bool, device=bboxes.device)
        bboxes = bboxes[keep_t] / bboxes.new_tensor([sx, sy, sx, sy])  # -> ORIGINAL
        data_sample.pred_instances = InstanceData(
            bboxes=bboxes, scores=torch.cat(scores)[keep_t], labels=torch.cat(labels)[keep_t])
        if all(p is not None for p in patches):
            data_sample.pred_instances.mask_patches = torch.cat(patches)[keep_t]
        return data_sample

    def _overlap(self, level: int, test_range: tuple, s: float) -> int:
        """Grid overlap of a level, scaled pixels: configured, or enough for its range."""
        hi = float(test_range[1])
        cfg = self.chip_cfg
        need = None if math.isinf(hi) else min_overlap(hi * s, float(cfg['border_tol']))
        overlap = cfg['overlap'] if cfg['overlap'] is not None else need
        if overlap is None:
            raise ValueError(f'level {level} is open-ended (test range {test_range}'
                             ') and too large to process whole: set chip_cfg.overlap to the '
                             'largest object (scaled pixels) it must find, or raise '
                             'PyramidResize max_pixels')
        if need is not None and overlap < need:
            raise ValueError(f'chip_cfg.overlap={overlap} is below {need}, the least that '
                             f'keeps objects up to {hi:g} original px '
                             f'whole at scale {s:.4g} (level {level})')
        if overlap >= cfg['chip_size']:
            raise ValueError(f'level {level} needs a chip overlap of {overlap} scaled px, '
                             f'not below chip_cfg.chip_size={cfg["chip_size"]}: raise '
                             'chip_size')
        return int(overlap)

    # -- merging ---------------------------------------------------------------------------
    def merge_preds(self, data_samples_list: Sequence[Sequence[DetDataSample]]
                    ) -> list[DetDataSample]:
        """Merge the views of each image.

        Args:
            data_samples_list (list[list[DetDataSample]]): per image, its views'
                predictions, ``pred_instances`` in ORIGINAL pixels (of the flipped image
                for flipped views), metainfo with ``pyramid_range``.

        Returns:
            list[DetDataSample]: per image, the first view's sample with
            ``pred_instances`` replaced by the merged detections: ``bboxes``
            Tensor[K, 4] ORIGINAL pixels, ``scores`` Tensor[K], ``labels`` Tensor[K]
            int64, by decreasing score, ``K <= max_per_img``; and, when every view has
            masks (``mask_patches`` or full ``masks``), ``masks`` Tensor[K, H, W] bool in
            the ORIGINAL frame.
        """
        return [self._merge_image(_as_sample_list(views)) for views in data_samples_list]

    def _mask_threshold(self) -> float:
        cfg = getattr(self.module, 'test_cfg', None) or {}
        rcnn = cfg.get('rcnn', cfg) if hasattr(cfg, 'get') else {}
        return float(rcnn.get('mask_thr_binary', 0.5)) if hasattr(rcnn, 'get') else 0.5

    def _merge_image(self, views: list[DetDataSample]) -> DetDataSample:
        boxes, scores, labels, patches = [], [], [], []
        for view in views:
            meta = view.metainfo
            lo_hi = meta.get('pyramid_range')
            if lo_hi is None:
                raise KeyError('SniperTTAModel: a view has no pyramid_range in its metainfo; '
                               'make the views with PyramidResize(test_range=...) (SniperRunner '
                               "fills it from sniper.test_ranges) and keep 'pyramid_range' in "
                               "PackDetInputs' meta_keys (PYRAMID_META_KEYS)")
            pred = view.pred_instances
            b = get_box_tensor(pred.bboxes)
            p = _patches_of(pred, b)  # per-box mask patches (None: no masks)
            # 1. Undo the view's flip (boxes are already in ORIGINAL pixels); a patch
            # flips with its box.
            if meta.get('flip', False):
                b = bbox_flip(b, meta['ori_shape'], meta['flip_direction'])
                p = None if p is None else _flip_patches(p, meta['flip_direction'])
            # 2. Keep what the view's level is responsible for.
            keep = level_range_mask(b, lo_hi)
            boxes.append(b[keep])
            scores.append(pred.scores[keep])
            labels.append(pred.labels[keep])
            patches.append(None if p is None else p[keep])
        # 3. Pool all levels and merge; the index says which pooled detection each
        # survivor is, so its mask follows it.
        bboxes, sc, lb = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
        check_detections(bboxes, sc, lb)
        with_masks = all(p is not None for p in patches)
        if with_masks:
            out_b, sc, lb, idx = merge_with_index(self.merger, bboxes, sc, lb)
        else:
            out_b, sc, lb = self.merger(bboxes, sc, lb)
        # 4. The best max_per_img (mergers here return by decreasing score; a project's
        # own need not).
        top = torch.argsort(sc, descending=True, stable=True)[:self.max_per_img]
        merged = views[0]
        merged.pred_instances = InstanceData(bboxes=out_b[top], scores=sc[top],
                                             labels=lb[top].long())
        if with_masks:
            # 5. Only the survivors' masks are pasted, in the ORIGINAL frame, at the box
            # their patch was predicted for (box voting: before refinement).
            src = idx[top]
            merged.pred_instances.masks = paste_patches(
                torch.cat(patches)[src], bboxes[src], merged.metainfo['ori_shape'][:2],
                self._mask_threshold())
        return merged
