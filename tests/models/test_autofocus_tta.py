"""AutoFocusTTAModel end to end with a stand-in detector (``FocusBlobDetector``).

The stand-in is test_tta's ``BlobDetector`` (one box per blob drawn in its input) that also
returns a FocusPixel map: 1 on the stride-16 cells overlapping a blob smaller than
``small`` input pixels, 0 elsewhere. So which levels run where is known to the pixel.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from test_tta import BlobDetector, canvas, pyramid, rows, run

from mmsniper.models import AutoFocusTTAModel


class FocusBlobDetector(BlobDetector):
    def __init__(self, small=20.0, stride=16):
        super().__init__()
        self.small, self.stride = small, stride

    def test_step(self, data):
        out = super().test_step(data)
        s = self.stride
        for img, sample in zip(data['inputs'], out):
            h, w = img.shape[-2:]
            fmap = torch.zeros(1, -(-h // s), -(-w // s))
            sx, sy = sample.metainfo['scale_factor']
            for x1, y1, x2, y2 in sample.pred_instances.bboxes.tolist():
                # back to the input's pixels
                x1, x2, y1, y2 = x1 * sx, x2 * sx, y1 * sy, y2 * sy
                if ((x2 - x1) * (y2 - y1)) ** 0.5 < self.small:
                    fmap[0, int(y1 // s):-(-int(y2) // s), int(x1 // s):-(-int(x2) // s)] = 1
            sample.pred_focus = PixelData(metainfo=dict(stride=s), data=fmap)
        return out


STEPS = [dict(threshold=0.5, dilation=1, min_size=2), dict(threshold=0.5, dilation=1, min_size=2)]
# ORIGINAL 320 x 240. A: 80 px (coarse); B: 12 px (small: found by focus, kept at the finest
# level); C: 50 px, next to B: B's middle-level FocusChip (224..288 x 160..224) cuts it.
A = (20, 20, 100, 100, 1, 0.9)
B = (250, 180, 262, 192, 2, 0.8)
C = (190, 150, 240, 200, 3, 0.7)


def levels(max_pixels):
    # sniper order, finest first; ranges: finest (-1, 20], middle (10, 60], coarsest (40, inf)
    return [(2.0, max_pixels, (-1, 20)), (1.0, max_pixels, (10, 60)), (0.5, max_pixels, (40, -1))]


def model(det):
    return AutoFocusTTAModel(module=det, focus_steps=STEPS,
                             merger=dict(type='NMSMerger', iou_threshold=0.5))


def expected(*objs):
    return sorted((tuple(float(v) for v in o[:4]), o[4]) for o in objs)


def close(got, want, tol=1.0):
    return len(got) == len(want) and all(
        gl == wl and np.allclose(gb, wb, atol=tol) for (gb, gl), (wb, wl) in zip(got, want))


@pytest.mark.parametrize('max_pixels', [None, 1000])  # 1000: views left ORIGINAL, cut here
def test_finer_levels_run_only_inside_focus_chips(max_pixels):
    det = FocusBlobDetector()
    (out,) = run(model(det), pyramid(levels(max_pixels)), [canvas(240, 320, [A, B, C])])
    # A and C whole from the coarsest level, B from the finer ones (two copies merged),
    # no fragment of C from B's FocusChip.
    assert close(rows(out), expected(A, B, C))
    meta = out.metainfo
    assert meta['autofocus_coarse_only'] is False
    # coarsest 160 x 120 whole; one 64 x 64 FocusChip at the middle and at the finest level.
    assert meta['autofocus_pixels'] == {2: 160 * 120, 1: 64 * 64, 0: 64 * 64}
    assert meta['autofocus_full_pixels'] == {2: 160 * 120, 1: 320 * 240, 0: 640 * 480}
    np.testing.assert_allclose(meta['autofocus_chips'][1], [[224, 160, 288, 224]])
    np.testing.assert_allclose(meta['autofocus_chips'][0], [[240, 176, 272, 208]])
    assert sorted(det.seen) == [(64, 64), (64, 64), (120, 160)]
    assert out.pred_focus.data.shape == (1, 8, 10)


def test_full_pyramid_baseline_runs_every_level_whole():
    det = FocusBlobDetector()
    m = AutoFocusTTAModel(module=det, focus_steps=STEPS, full_pyramid=True,
                          merger=dict(type='NMSMerger', iou_threshold=0.5))
    (out,) = run(m, pyramid(levels(None)), [canvas(240, 320, [A, C])])
    assert close(rows(out), expected(A, C))
    assert out.metainfo['autofocus_pixels'] == out.metainfo['autofocus_full_pixels']
    assert sorted(det.seen) == [(120, 160), (240, 320), (480, 640)]


def test_the_cut_object_is_dropped_not_merged():
    # Without the border rule the fragment of C (224..240 x 160..200, in the middle range)
    # would survive the merge as a fourth box: show that it reaches the detector's output.
    det = FocusBlobDetector()
    m = model(det)
    m.chip_cfg['border_tol'] = -1e9  # nothing ever touches a side
    (out,) = run(m, pyramid(levels(None)), [canvas(240, 320, [A, B, C])])
    assert len(rows(out)) == 4
    assert any(np.allclose(b, (224, 160, 240, 200), atol=1) for b, _ in rows(out))


def test_no_focus_pixel_runs_only_the_coarsest_level():
    det = FocusBlobDetector()
    (out,) = run(model(det), pyramid(levels(None)), [canvas(240, 320, [A, C])])
    assert close(rows(out), expected(A, C))
    assert out.metainfo['autofocus_coarse_only'] is True
    assert out.metainfo['autofocus_pixels'] == {2: 160 * 120, 1: 0, 0: 0}
    assert det.calls == 1 and det.seen == [(120, 160)]


def test_flipped_views_give_the_same_detections_and_batches_of_images():
    det = FocusBlobDetector()
    imgs = [canvas(240, 320, [A, B, C]), canvas(240, 320, [A])]
    out = run(model(det), pyramid(levels(None), flip=True), imgs)
    assert close(rows(out[0]), expected(A, B, C)) and close(rows(out[1]), expected(A))
    # Both flips counted.
    assert out[0].metainfo['autofocus_pixels'] == {2: 2 * 160 * 120, 1: 2 * 64 * 64,
                                                   0: 2 * 64 * 64}
    assert out[1].metainfo['autofocus_coarse_only'] is True


def test_settings_are_checked():
    with pytest.raises(ValueError, match=r'tta_model.focus_steps\[1\].threshold'):
        AutoFocusTTAModel(module=BlobDetector(),
                          focus_steps=[STEPS[0], dict(threshold=1.5, dilation=3, min_size=4)])
    with pytest.raises(ValueError, match=r'tta_model.focus_steps\[0\].dilation'):
        AutoFocusTTAModel(module=BlobDetector(),
                          focus_steps=[dict(threshold=0.5, dilation=0, min_size=4)])
    # One step per coarse -> fine pair.
    m = AutoFocusTTAModel(module=FocusBlobDetector(), focus_steps=STEPS[:1])
    with pytest.raises(ValueError, match='focus_steps has 1 steps but the pyramid has 3'):
        run(m, pyramid(levels(None)), [canvas(240, 320, [A])])
    # A detector without the FocusPixel branch.
    m = AutoFocusTTAModel(module=BlobDetector(), focus_steps=STEPS)
    with pytest.raises(KeyError, match='AutoFocusFasterRCNN'):
        run(m, pyramid(levels(None)), [canvas(240, 320, [A])])


def test_infer_saves_the_focus_map_and_chips(tmp_path):
    import cv2

    from mmsniper.apis.inference import InferenceModel, infer

    pipeline = [dict(type='LoadImageFromFile'), pyramid(levels(None)).transforms[1]]
    m = InferenceModel(model(FocusBlobDetector()), pipeline, ('a', 'b', 'c', 'd'), None)
    path = tmp_path / 'imgs' / 'im.png'
    path.parent.mkdir()
    cv2.imwrite(str(path), canvas(240, 320, [A, B, C]))
    summary = infer(None, None, [str(path)], str(tmp_path / 'out'), score_thr=0.3,
                    progress=False, model=m, save_focus=True)
    assert summary.done == 1 and len(summary.coco['annotations']) == 3
    pic = cv2.imread(str(tmp_path / 'out' / 'focus' / 'im.png'))
    assert pic.shape == (240, 320, 3)
    # B's focus cells (coarse cells 7..8 x 5, i.e. ORIGINAL 224..256 x 160..192) are red
    # (on the black background at x 245, y 170); a cell without focus is not.
    assert pic[170, 245, 2] > 100 and pic[170, 245, :2].max() < 20
    assert tuple(pic[10, 300]) == (0, 0, 0)
    # The middle level's FocusChip outline (224..288 x 160..224) is drawn.
    assert pic[223, 260].any() and not pic[230, 300].any()
    # A model without a FocusPixel branch: an error naming the option.
    plain = InferenceModel(model(BlobDetector()), pipeline, ('a', 'b', 'c', 'd'), None)
    with pytest.raises((ValueError, KeyError), match='AutoFocus'):
        infer(None, None, [str(path)], str(tmp_path / 'out2'), progress=False, model=plain,
              save_focus=True)
