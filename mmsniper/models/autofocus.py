"""AutoFocus training: the FocusPixel head and the Faster R-CNN that carries it.

The FocusPixel branch predicts, per cell of one FPN level, whether the cell overlaps a
SMALL object (``sqrt(w * h)`` in CHIP pixels in ``(dc_low, small)``); at test time the
coarsest pyramid scale's map tells :class:`~mmsniper.models.AutoFocusTTAModel` where the
finer scales are worth running. Targets: :func:`mmsniper.chips.focus_targets`.

Level: FPN output 2 (stride 16), the stride of the reference's conv4 branch: the reference
thresholds and minimum FocusChip sizes are counted in stride-16 cells, so they keep their
meaning; a finer level (stride 8) would quadruple the map for no use (FocusChips are grown
to 16-20 cells anyway), a coarser one (32) would be coarser than the smallest positive
object's footprint at the coarsest test scale.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.models.detectors import FasterRCNN
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from torch import Tensor, nn

from ..chips.focus import REFERENCE_FOCUS_TARGETS, focus_targets


@MODELS.register_module()
class FocusPixelHead(BaseModule):
    """FocusPixel head: a few 3x3 convs + ReLU, one 1x1 conv, sigmoid per cell.

    Trained with binary cross-entropy over the cells that are not ignored (targets -1:
    objects of ``[small, dc_high)`` or ``<= dc_low`` CHIP pixels, and the batch padding),
    averaged over those cells, times ``loss_weight``.

    Args:
        in_channels (int): channels of the FPN level.
        feat_channels (int): channels of the hidden convs. Default 128.
        num_convs (int): hidden 3x3 convs. Default 2.
        level (int): index of the FPN output the head reads. Default 2 (stride 16).
        stride (int): that level's stride, input pixels per cell. Default 16.
        dc_low, small, dc_high (float): target thresholds, CHIP pixels of ``sqrt(w * h)``
            (reference 5, 64, 90).
        loss_weight (float): weight of the loss in the detector's total. Default 1.0.
        init_cfg (dict, optional): see ``BaseModule``. Default: normal, std 0.01, the
            logit's bias at probability 0.01.
    """

    def __init__(self, in_channels: int, feat_channels: int = 128, num_convs: int = 2,
                 level: int = 2, stride: int = 16,
                 dc_low: float = REFERENCE_FOCUS_TARGETS['dc_low'],
                 small: float = REFERENCE_FOCUS_TARGETS['small'],
                 dc_high: float = REFERENCE_FOCUS_TARGETS['dc_high'],
                 loss_weight: float = 1.0, init_cfg: dict | None = None) -> None:
        # The logit's bias starts at the prior 0.01 (positives are rare, as in RetinaNet):
        # an untrained branch then marks no focus pixel at the reference thresholds,
        # rather than sending every pixel of every scale to the finer levels.
        super().__init__(init_cfg=init_cfg or dict(
            type='Normal', layer='Conv2d', std=0.01,
            override=dict(type='Normal', name='logit', std=0.01, bias_prob=0.01)))
        if not (0 <= dc_low < small <= dc_high):
            raise ValueError(f'focus_head: expected 0 <= dc_low < small <= dc_high, got '
                             f'dc_low={dc_low!r}, small={small!r}, dc_high={dc_high!r}')
        if not float(loss_weight) >= 0:
            raise ValueError(f'focus_head.loss_weight: expected a number >= 0, got '
                             f'{loss_weight!r}')
        self.level, self.stride = int(level), int(stride)
        self.thresholds = dict(dc_low=float(dc_low), small=float(small),
                               dc_high=float(dc_high))
        self.loss_weight = float(loss_weight)
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, feat_channels, 3, padding=1), nn.ReLU(inplace=True)]
            c = feat_channels
        self.convs = nn.Sequential(*layers)
        self.logit = nn.Conv2d(c, 1, 1)

    def forward(self, x: Sequence[Tensor]) -> Tensor:
        """Logits, Tensor[N, 1, H_l, W_l], of FPN level ``self.level``."""
        if self.level >= len(x):
            raise ValueError(f'focus_head.level={self.level}, but the neck gives {len(x)} '
                             'levels')
        return self.logit(self.convs(x[self.level]))

    def targets(self, shape: tuple[int, int],
                batch_data_samples: Sequence[DetDataSample]) -> Tensor:
        """Targets for a batch: Tensor[N, H_l, W_l] float (1, 0, or -1 ignored).

        Every object of a chip counts, trained (``gt_instances``) or not
        (``ignored_instances``): an object's size decides, not its valid range.
        Cells of the batch padding (beyond ``img_shape``) are ignored.
        """
        hl, wl = shape
        out = []
        for sample in batch_data_samples:
            boxes = [get_box_tensor(sample.gt_instances.bboxes)]
            if 'ignored_instances' in sample and 'bboxes' in sample.ignored_instances:
                boxes.append(get_box_tensor(sample.ignored_instances.bboxes))
            b = torch.cat([t.reshape(-1, 4) for t in boxes]).detach().cpu().numpy()
            t = focus_targets(b, (wl * self.stride, hl * self.stride), self.stride,
                              **self.thresholds).astype(np.float32)
            ih, iw = sample.metainfo.get('img_shape', (hl * self.stride, wl * self.stride))
            t[-(-int(ih) // self.stride):, :] = -1
            t[:, -(-int(iw) // self.stride):] = -1
            out.append(torch.from_numpy(t))
        return torch.stack(out)

    def loss(self, x: Sequence[Tensor], batch_data_samples: Sequence[DetDataSample]) -> dict:
        """``dict(loss_focus=...)`` for a batch of chips."""
        logits = self(x)[:, 0]
        target = self.targets(tuple(logits.shape[-2:]), batch_data_samples).to(logits.device)
        valid = target >= 0
        if not bool(valid.any()):
            return dict(loss_focus=logits.sum() * 0)
        loss = F.binary_cross_entropy_with_logits(logits[valid], target[valid])
        return dict(loss_focus=loss * self.loss_weight)

    def predict(self, x: Sequence[Tensor],
                batch_data_samples: Sequence[DetDataSample]) -> list[PixelData]:
        """Per image, its FocusPixel probabilities over the cells of its ``img_shape``.

        Returns:
            list[PixelData]: ``data`` Tensor[1, ceil(h / stride), ceil(w / stride)] in
            ``[0, 1]``, cells of the detector's INPUT (the scaled image), metainfo
            ``stride``.
        """
        prob = self(x).sigmoid()
        out = []
        for p, sample in zip(prob, batch_data_samples):
            ih, iw = sample.metainfo.get('img_shape', (p.shape[-2] * self.stride,
                                                       p.shape[-1] * self.stride))
            gh, gw = -(-int(ih) // self.stride), -(-int(iw) // self.stride)
            out.append(PixelData(metainfo=dict(stride=self.stride), data=p[:, :gh, :gw]))
        return out


@MODELS.register_module()
class AutoFocusFasterRCNN(FasterRCNN):
    """MMDetection's Faster R-CNN plus a FocusPixel branch on the FPN features.

    Why a subclass: the branch must share the detector's features (one backbone pass)
    and train jointly with it; everything else -- RPN, R-CNN head, their losses and
    predictions -- is ``FasterRCNN``'s, unchanged. ``loss`` adds ``loss_focus``;
    ``predict`` adds ``pred_focus`` (:meth:`FocusPixelHead.predict`) to each sample.

    Args:
        focus_head (dict): a :class:`FocusPixelHead` config; ``in_channels`` defaults to
            the neck's ``out_channels``.
        **kwargs: ``FasterRCNN``'s arguments.
    """

    def __init__(self, focus_head: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        focus_head = dict(focus_head)
        focus_head.setdefault('type', 'FocusPixelHead')
        if 'in_channels' not in focus_head:
            neck = kwargs.get('neck') or {}
            if 'out_channels' not in neck:
                raise ValueError('model.focus_head.in_channels: not given and the model has no '
                                 'neck.out_channels to take it from; set it to the channels '
                                 'of the feature level the head reads')
            focus_head['in_channels'] = neck['out_channels']
        self.focus_head = MODELS.build(focus_head)
        self._reuse: tuple | None = None

    @contextlib.contextmanager
    def _features_of(self, batch_inputs: Tensor, x: tuple) -> Iterator[None]:
        """Let the parent's ``extract_feat`` return ``x`` for ``batch_inputs`` (one pass)."""
        self._reuse = (batch_inputs, x)
        try:
            yield
        finally:
            self._reuse = None

    def extract_feat(self, batch_inputs: Tensor) -> tuple:
        if self._reuse is not None and self._reuse[0] is batch_inputs:
            return self._reuse[1]
        return super().extract_feat(batch_inputs)

    def loss(self, batch_inputs: Tensor, batch_data_samples: list) -> dict:
        x = self.extract_feat(batch_inputs)
        with self._features_of(batch_inputs, x):
            losses = super().loss(batch_inputs, batch_data_samples)
        losses.update(self.focus_head.loss(x, batch_data_samples))
        return losses

    def predict(self, batch_inputs: Tensor, batch_data_samples: list,
                rescale: bool = True) -> list:
        x = self.extract_feat(batch_inputs)
        with self._features_of(batch_inputs, x):
            samples = super().predict(batch_inputs, batch_data_samples, rescale=rescale)
        for sample, focus in zip(samples, self.focus_head.predict(x, samples)):
            sample.pred_focus = focus
        return samples
