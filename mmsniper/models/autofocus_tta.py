"""AutoFocus inference: the pyramid coarse to fine, finer scales only inside FocusChips.

Flow (``tools/test.py --tta`` with ``configs/autofocus_*.py``)::

    TestTimeAug(PyramidResize per level [x RandomFlip]) -> AutoFocusTTAModel.test_step
        per image (and flip): levels ordered coarse -> fine by pyramid_scale
        1. the coarsest level on the whole scaled image: detections + FocusPixel map
           (the detector is an AutoFocusFasterRCNN: ``pred_focus``)
        2. FocusChips of the map (mmsniper.chips.focus_chips, focus_steps[0]), mapped to
           the next level's pixels and aligned to its stride; the level runs only on
           those windows, batch_size at a time; detections touching a window side that is
           not the image's are dropped (cut objects); the windows' focus maps, pasted
           into the level's grid, give the next step's FocusChips (focus_steps[1]) ...
        3. merge as SniperTTAModel: each level's test range (pyramid_range), pool, merger

An image whose coarsest map has no focus pixel runs only the coarsest level
(``autofocus_coarse_only`` True in its metainfo). Metainfo added per image:
``autofocus_pixels`` / ``autofocus_full_pixels`` (dict ``pyramid_level -> pixels`` the
detector processed / the full pyramid would), ``autofocus_chips`` (dict ``pyramid_level ->
ndarray[K, 4]`` FocusChips in ORIGINAL pixels, unflipped views), ``autofocus_coarse_only``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence, Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmengine.registry import MODELS
from mmengine.structures import InstanceData
from torch import Tensor

from ..chips import scaled_image_size
from ..chips.focus import cells_to_next_scale, focus_chips, interior_sides
from ..chips.focus import focus_steps as check_focus_steps
from .tta import SniperTTAModel, detect_windows, level_cutter


@MODELS.register_module()
class AutoFocusTTAModel(SniperTTAModel):
    """AutoFocus: SNIPER's pyramid, each finer level only inside FocusChips.

    Takes the same ``tta_pipeline`` as :class:`SniperTTAModel` (one ``PyramidResize``
    view per ``sniper.test_scales`` level); the detector must give a FocusPixel map
    (``pred_focus``, :class:`~mmsniper.models.AutoFocusFasterRCNN`).

    Args:
        module (dict | nn.Module): the detector.
        focus_steps (list[dict], optional): per coarse -> fine step (one fewer than the
            levels), ``threshold`` in ``(0, 1)``, ``dilation`` (cells, >= 1), ``min_size``
            (cells of the coarser level's map). None: the reference
            ``[(0.02, 3, 16), (0.2, 3, 20)]``.
        merger, max_per_img, data_preprocessor: as :class:`SniperTTAModel`.
        chip_cfg (dict, optional): as :class:`SniperTTAModel`; ``batch_size`` is also the
            number of FocusChips per forward pass and ``border_tol`` (scaled pixels) the
            distance within which a detection touches a FocusChip side.
        full_pyramid (bool): the baseline with the same model and bookkeeping: every
            finer level on its whole image (one FocusChip = the image), whatever the map
            says. Default False.
    """

    def __init__(self, module: Union[dict, torch.nn.Module],
                 focus_steps: Sequence[dict] | None = None,
                 merger: Union[dict, Callable, None] = None, max_per_img: int = 200,
                 chip_cfg: dict | None = None, full_pyramid: bool = False,
                 data_preprocessor: Any = None) -> None:
        super().__init__(module=module, merger=merger, max_per_img=max_per_img,
                         chip_cfg=chip_cfg, data_preprocessor=data_preprocessor)
        self.focus_steps = check_focus_steps(focus_steps, 'tta_model.focus_steps')
        self.full_pyramid = bool(full_pyramid)

    def test_step(self, data: Union[dict, tuple, list]) -> list[DetDataSample]:
        """Run AutoFocus on a TTA batch (see the module docstring).

        Args:
            data (dict): ``inputs`` and ``data_samples``, each a list over views of a
                list over images (``TestTimeAug`` + ``pseudo_collate``).

        Returns:
            list[DetDataSample]: one per image, ``pred_instances`` in ORIGINAL pixels,
            the ``autofocus_*`` metainfo, and the coarsest level's ``pred_focus``.
        """
        if isinstance(data, dict):
            inputs, samples = data['inputs'], data['data_samples']
        elif isinstance(data, (tuple, list)):
            inputs, samples = data[0], data[1]
        else:
            raise TypeError(f'data: expected a dict, tuple or list, got {type(data).__name__}')
        n_images = len(inputs[0])
        return [self._predict_image([v[i] for v in inputs], [v[i] for v in samples])
                for i in range(n_images)]

    # -- one image -------------------------------------------------------------------------
    def _predict_image(self, imgs: list, samples: list[DetDataSample]) -> DetDataSample:
        groups: dict = {}
        for img, sample in zip(imgs, samples):
            meta = sample.metainfo
            for key in ('pyramid_scale', 'pyramid_level', 'pyramid_range'):
                if key not in meta:
                    raise KeyError(f'AutoFocusTTAModel: a view lacks {key!r} in its metainfo; '
                                   'make the views with PyramidResize and keep '
                                   'PYRAMID_META_KEYS in PackDetInputs')
            flip = (bool(meta.get('flip', False)), meta.get('flip_direction'))
            groups.setdefault(flip, []).append((img, sample))
        levels_views, pixels, full, chips_orig, coarse_only, focus = [], {}, {}, {}, True, None
        for flip, views in groups.items():
            views.sort(key=lambda v: v[1].metainfo['pyramid_scale'])
            if len(views) != len(self.focus_steps) + 1:
                raise ValueError(f'tta_model.focus_steps has {len(self.focus_steps)} steps '
                                 f'but the pyramid has {len(views)} levels; give one step '
                                 'per coarse -> fine pair (sniper.test_scales)')
            out = self._cascade(views)
            levels_views += out['views']
            for lv, px in out['pixels'].items():
                pixels[lv] = pixels.get(lv, 0) + px
            for lv, px in out['full'].items():
                full[lv] = full.get(lv, 0) + px
            coarse_only = coarse_only and out['coarse_only']
            if not flip[0] or focus is None:
                chips_orig.update(out['chips'])
                focus = out['focus']
        merged = self._merge_image(levels_views)
        merged.set_metainfo(dict(autofocus_pixels=pixels, autofocus_full_pixels=full,
                                 autofocus_chips=chips_orig,
                                 autofocus_coarse_only=bool(coarse_only)))
        if focus is not None:
            merged.pred_focus = focus
        return merged

    def _cascade(self, views: list) -> dict:
        """One image, one flip: the levels coarse -> fine (``views`` sorted so)."""
        img0, sample0 = views[0]
        meta0 = sample0.metainfo
        h0, w0 = meta0['ori_shape'][:2]
        # 1. The coarsest level, whole.
        if meta0.get('pyramid_chips', False):
            # Left ORIGINAL by PyramidResize (max_pixels): resize it here, once.
            sw, sh = scaled_image_size((w0, h0), meta0['pyramid_scale'])
            img0 = level_cutter(img0, (sw, sh))((0, 0, sw, sh)).contiguous()
            sample0 = sample0.clone()
            sample0.set_metainfo(dict(img_shape=(sh, sw), scale_factor=(sw / w0, sh / h0)))
        (pred0,) = self.module.test_step(dict(inputs=[img0], data_samples=[sample0]))
        if 'pred_focus' not in pred0:
            raise KeyError('AutoFocusTTAModel: the detector gave no pred_focus; use a '
                           'detector with a FocusPixel branch (AutoFocusFasterRCNN)')
        ch, cw = pred0.metainfo['img_shape'][:2]
        lv0 = int(meta0['pyramid_level'])
        out = dict(views=[pred0], pixels={lv0: int(cw * ch)}, full={lv0: int(cw * ch)},
                   chips={}, focus=pred0.pred_focus, coarse_only=True)
        stride = int(pred0.pred_focus.metainfo.get('stride', 16))
        fmap = pred0.pred_focus.data[0].detach().cpu().numpy()
        # 2. Each finer level inside the FocusChips of the previous level's map.
        for step, (img, sample) in zip(self.focus_steps, views[1:]):
            meta = sample.metainfo
            lv = int(meta['pyramid_level'])
            nw, nh = scaled_image_size((w0, h0), meta['pyramid_scale'])
            out['full'][lv] = int(nw * nh)
            grid = (math.ceil(cw / stride), math.ceil(ch / stride))
            cells = (np.array([[0, 0, *grid]]) if self.full_pyramid
                     else focus_chips(fmap, step, grid))
            wins = cells_to_next_scale(cells, stride, (cw, ch), (nw / cw, nh / ch), (nw, nh))
            # Aligned to the stride: the windows' cells are cells of the level's own grid.
            wins[:, :2] = np.floor(wins[:, :2] / stride) * stride
            wins[:, 2:] = np.minimum(np.ceil(wins[:, 2:] / stride) * stride, [nw, nh])
            if len(out['views']) == 1:  # the coarsest map
                out['coarse_only'] = len(cells) == 0
            out['pixels'][lv] = int(((wins[:, 2] - wins[:, 0]) * (wins[:, 3] - wins[:, 1])).sum())
            out['chips'][lv] = wins / np.array([nw / w0, nh / h0, nw / w0, nh / h0])
            pred, fmap = self._run_windows(img, sample, wins, (nw, nh), (w0, h0), stride)
            out['views'].append(pred)
            cw, ch = nw, nh
        return out

    def _run_windows(self, img: Union[Tensor, np.ndarray], sample: DetDataSample,
                     wins: np.ndarray, size: tuple[int, int], ori: tuple[int, int],
                     stride: int) -> tuple[DetDataSample, np.ndarray]:
        """One finer level on its FocusChips.

        Args:
            img: the view's image: the level's SCALED image, or ORIGINAL if the view has
                ``pyramid_chips`` (then each window is cut and resized from it).
            wins (ndarray[K, 4]): FocusChips, SCALED pixels of the level, whole numbers.
            size, ori: ``(w, h)`` of the level's scaled image and of the original.

        Returns:
            (DetDataSample, ndarray[gh, gw]): the view's sample with ``pred_instances`` in
            ORIGINAL pixels (whole objects only), and the level's focus map (0 outside the
            windows).
        """
        nw, nh = size
        sx, sy = nw / ori[0], nh / ori[1]
        tol = float(self.chip_cfg['border_tol'])
        fmap = np.zeros((math.ceil(nh / stride), math.ceil(nw / stride)), np.float32)
        boxes, scores, labels = [], [], []
        sides = interior_sides(wins, (nw, nh)) if len(wins) else np.zeros((0, 4), bool)
        # The level's image (scaled, or cut and resized from the ORIGINAL) by window;
        # FocusChips differ in size, so a batch is padded to its largest.
        (preds,) = detect_windows(self.module, [(level_cutter(img, (nw, nh)), wins)],
                                  self.chip_cfg['batch_size'], same_shape=False)
        for k, (pred, win) in enumerate(zip(preds, wins.astype(np.int64))):
            x1, y1, x2, y2 = win.tolist()
            b = get_box_tensor(pred.pred_instances.bboxes)
            b = b + b.new_tensor([x1, y1, x1, y1])  # CHIP -> SCALED pixels
            side = torch.as_tensor(sides[k], device=b.device)
            cut = torch.stack([b[:, 0] <= x1 + tol, b[:, 1] <= y1 + tol,
                               b[:, 2] >= x2 - tol, b[:, 3] >= y2 - tol], 1) & side
            keep = ~cut.any(1)
            boxes.append(b[keep] / b.new_tensor([sx, sy, sx, sy]))  # -> ORIGINAL
            scores.append(pred.pred_instances.scores[keep])
            labels.append(pred.pred_instances.labels[keep])
            if 'pred_focus' in pred:
                m = pred.pred_focus.data[0].detach().cpu().numpy()
                gy, gx = y1 // stride, x1 // stride
                hh = min(m.shape[0], fmap.shape[0] - gy)
                ww = min(m.shape[1], fmap.shape[1] - gx)
                fmap[gy:gy + hh, gx:gx + ww] = np.maximum(fmap[gy:gy + hh, gx:gx + ww],
                                                          m[:hh, :ww])
        view = sample.clone()
        if boxes:
            view.pred_instances = InstanceData(bboxes=torch.cat(boxes),
                                               scores=torch.cat(scores),
                                               labels=torch.cat(labels).long())
        else:
            view.pred_instances = InstanceData(bboxes=torch.zeros((0, 4)),
                                               scores=torch.zeros(0),
                                               labels=torch.zeros(0, dtype=torch.long))
        return view, fmap
