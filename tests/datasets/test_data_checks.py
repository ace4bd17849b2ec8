"""Data checks: decoded image sizes against the annotations, one policy for bad annotations
(training, chip tools, advisor), check_dataset.py, zero-proposal images."""
from __future__ import annotations

import importlib.util
import json
import math
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from mmsniper.annotations import CODES, AnnotationError, audit_coco
from mmsniper.chips import Chip
from mmsniper.datasets import ChipGenerator, ChipTicket, SniperDataset

from conftest import REPO

CHECK = osp.join(REPO, 'tools', 'analysis_tools', 'check_dataset.py')
INF, NAN = float('inf'), float('nan')


def _results(img, width, height, ticket=None, boxes=((10, 10, 40, 30),)):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    r = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2], width=width,
             height=height, img_path='data/x/photo_7.jpg', img_id=7,
             gt_bboxes=HorizontalBoxes(boxes), gt_bboxes_labels=np.zeros(len(boxes), np.int64),
             gt_ignore_flags=np.zeros(len(boxes), bool))
    if ticket is not None:
        r['chip'] = ticket
    return r


# -- 1. the decoded image against its annotated size -----------------------------------
@pytest.mark.parametrize('case, wh', [('half', (60, 40)), ('swapped', (80, 120)),
                                      ('larger', (480, 320))])
@pytest.mark.parametrize('mode', ['ticket', 'simple'])
def test_chip_generator_rejects_a_wrong_annotated_size(case, wh, mode):
    img = np.full((80, 120, 3), 100, np.uint8)   # real: 120 x 80
    if mode == 'ticket':  # planned from the annotated size, as SniperDataset does
        w, h = wh
        chip = Chip(0, 1.0, (max(0, w - 64), max(0, h - 64), w, h))
        gen, r = ChipGenerator(), _results(img, w, h, ChipTicket(0, chip, (0.0, INF), 64))
    else:
        gen = ChipGenerator(scales=[1.0], train_ranges=[(-1, -1)], chip_size=64)
        r = _results(img, *wh)
    with pytest.raises(ValueError) as e:
        gen.transform(r)
    msg = str(e.value)
    assert 'data/x/photo_7.jpg' in msg and 'img_id 7' in msg
    assert '120x80' in msg and f'{wh[0]}x{wh[1]}' in msg
    assert ('swapped' in msg) == (case == 'swapped')


def _jpeg_with_orientation(path, w, h, orientation):
    """A w x h JPEG whose EXIF Orientation tag says: rotate for display."""
    from PIL import Image

    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes())


def _coco(images, anns, cats=('a', 'b')):
    out = []
    for j, a in enumerate(anns):
        d = dict(id=j + 1, category_id=1, iscrowd=0)
        d.update(a)
        if 'area' not in d:
            b = d['bbox']
            d['area'] = b[2] * b[3] if all(math.isfinite(v) for v in b) else 1.0
        out.append(d)
    return dict(images=[dict(id=i, file_name=f'{i}.jpg', width=w, height=h)
                        for i, w, h in images],
                annotations=out, categories=[dict(id=k + 1, name=n) for k, n in enumerate(cats)])


def test_exif_rotated_photo_with_its_rotated_size_passes(tmp_path):
    """LoadImageFromFile applies the EXIF orientation: a photo stored 64x32 with
    Orientation 6 (rotate 90) is 32x64, and that is the size its annotation must give."""
    from mmcv.transforms import LoadImageFromFile

    from mmsniper.datasets.check_dataset import check_coco_dataset

    _jpeg_with_orientation(str(tmp_path / '1.jpg'), 64, 32, 6)
    _jpeg_with_orientation(str(tmp_path / '2.jpg'), 64, 32, 6)
    r = LoadImageFromFile()(dict(img_path=str(tmp_path / '1.jpg')))
    assert r['img'].shape[:2] == (64, 32)
    r.update(width=32, height=64, img_id=1, gt_bboxes=HorizontalBoxes(np.zeros((0, 4))),
             gt_bboxes_labels=np.zeros(0, np.int64), gt_ignore_flags=np.zeros(0, bool))
    out = ChipGenerator(scales=[1.0], train_ranges=[(-1, -1)], chip_size=64).transform(r)
    assert out['img'].shape == (64, 64, 3)
    # the whole-file check decodes the same way: image 1 (rotated size) passes, image 2
    # (annotated with the stored, unrotated size) is a swapped-size mismatch
    ann = tmp_path / 'a.json'
    ann.write_text(json.dumps(_coco([(1, 32, 64), (2, 64, 32)],
                                    [dict(image_id=1, bbox=[2, 2, 20, 20]),
                                     dict(image_id=2, bbox=[2, 2, 20, 20])])))
    res = check_coco_dataset(str(ann), str(tmp_path), progress=False)
    assert res.audit.counts == {'size_mismatch': 1} and res.audit.ids['size_mismatch'] == [2]
    assert 'swapped' in res.details['size_mismatch'][0]


# -- 2. one policy for bad annotations, through SniperDataset ----------------------------
BAD = [dict(image_id=1, bbox=[10, 10, 40, 30]),                    # 1 ok
       dict(image_id=1, bbox=[NAN, 10, 40, 30]),                   # 2 non-finite (mmdet drops)
       dict(image_id=2, bbox=[10, 10, INF, 30], area=900),         # 3 non-finite (mmdet KEEPS)
       dict(image_id=2, bbox=[10, 10, -5, 30], area=10),           # 4 negative width
       dict(image_id=1, bbox=[20, 20, 30, 30], category_id=9),     # 5 unknown category
       dict(image_id=2, bbox=[300, 10, 20, 20]),                   # 6 outside the 200 x 150 image
       dict(image_id=2, bbox=[50, 50, 60, 40], iscrowd=1),         # 7 crowd (kept, ignored)
       dict(image_id=2, bbox=[60, 60, 30, 30]),                    # 8 ok
       dict(image_id=3, bbox=[5, 5, 20, 20])]                      # 9 ok, image left out


def _sniper(tmp_path, anns=BAD, **kw):
    ann = tmp_path / 'train.json'
    ann.write_text(json.dumps(_coco([(1, 200, 150), (2, 200, 150), (3, 30, 30)], anns)))
    inner = dict(type='CocoDataset', ann_file=str(ann), data_prefix=dict(img=''),
                 metainfo=dict(classes=('a', 'b')), pipeline=[],
                 filter_cfg=dict(filter_empty_gt=False, min_size=40))
    return SniperDataset(inner, scales=[1.0], train_ranges=[(-1, -1)], chip_size=64,
                         stride=16, **kw), str(ann)


def test_bad_annotations_are_counted_once_with_ids_and_left_out(tmp_path, monkeypatch):
    from mmsniper.datasets import annotation_report

    logged = []
    monkeypatch.setattr(annotation_report, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw.get('level'))))
    ds, ann = _sniper(tmp_path)
    assert len(logged) == 1 and logged[0][1] == 30    # once per build, a WARNING
    msg = logged[0][0]
    assert msg.startswith(f'annotations: 6 of 9 boxes of {ann} not used: ')
    for part in ('2 non-finite (ann ids 2 in img 1, 3 in img 2)',
                 '1 zero, negative or sub-pixel size (ann id 4 in img 2)',
                 '1 outside the image (ann id 6 in img 2)',
                 '1 unknown category (ann id 5 in img 1)',
                 "1 on images the dataset left out (its filter_cfg) (ann id 9 in img 3)",
                 '1 crowd, kept as ignore regions (ann id 7 in img 2)'):
        assert part in msg, (part, msg)
    assert 'holds' not in msg     # the dataset kept exactly what the policy says it uses
    # the box mmdet keeps with an infinite width is left out of planning and the pipeline
    boxes, crowd, _ = ds.image_annotations(1)
    assert np.isfinite(boxes).all() and len(boxes) == 2 and crowd.tolist() == [True, False]
    assert len(ds[1]['instances']) == 2          # what the pipeline gets (here: none)
    tickets = ds.plan_epoch(0, seed=0)
    assert {t.index for t in tickets} == {0, 1}


def test_strict_annotations_raise_naming_kinds(tmp_path):
    with pytest.raises(AnnotationError) as e:
        _sniper(tmp_path, strict_annotations=True)
    msg = str(e.value)
    assert '2 non-finite' in msg and '1 unknown category' in msg
    assert 'strict_annotations=False' in msg
    # crowd boxes and images left out by filter_cfg are no data errors
    _sniper(tmp_path, anns=[BAD[0], BAD[6], BAD[7], BAD[8]], strict_annotations=True)


def test_chip_tools_strict_flag(tmp_path):
    from mmsniper.datasets.chip_stats import build_sniper_dataset

    _, ann = _sniper(tmp_path)
    cfg = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')
    opts = {'train_dataloader.dataset.dataset.ann_file': ann,
            'train_dataloader.dataset.dataset.data_root': '',
            'train_dataloader.dataset.dataset.metainfo': dict(classes=('a', 'b'))}
    with pytest.raises(AnnotationError, match='1 unknown category'):
        build_sniper_dataset(cfg, opts, strict=True)


def test_policy_follows_mmdet_on_what_it_drops():
    """The policy's 'used' boxes are exactly the instances CocoDataset keeps (plus what the
    wrapper leaves out itself: non-finite boxes CocoDataset keeps)."""
    data = _coco([(1, 200, 150), (2, 200, 150), (3, 30, 30)], BAD)
    res = audit_coco(data, 'x', classes=('a', 'b'))
    assert [CODES[c] for c in res.codes] == [
        'ok', 'non_finite', 'non_finite', 'degenerate', 'unknown_category', 'outside', 'crowd',
        'ok', 'ok']


# -- 3. check_dataset.py ----------------------------------------------------------------
def _write_images(folder, sizes):
    for i, (w, h) in sizes.items():
        cv2.imwrite(str(folder / f'{i}.jpg'), np.full((h, w, 3), 90, np.uint8))


def _check_tool():
    spec = importlib.util.spec_from_file_location('check_dataset', CHECK)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_check_dataset_tool_reports_each_kind_and_exit_status(tmp_path, capsys):
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    _write_images(imgs, {1: (200, 150), 2: (200, 150), 3: (60, 40), 4: (150, 200), 5: (120, 80)})
    (imgs / '6.jpg').write_bytes(b'not a jpeg')
    images = [(1, 200, 150), (2, 200, 150), (3, 120, 80),   # 3: annotated 2x the real size
              (4, 200, 150),                                # 4: width/height swapped
              (5, 60, 40),                                  # 5: annotated half the real size
              (6, 50, 50), (7, 50, 50)]                     # 6 corrupt, 7 missing
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(_coco(images, BAD[:8])))
    proc = subprocess.run([sys.executable, CHECK, str(bad), '--img-dir', str(imgs),
                           '--nproc', '2'], capture_output=True, text=True, cwd=str(tmp_path))
    out = proc.stdout
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for kind, ids in (('non_finite', 'ann ids 2 in img 1, 3 in img 2'),
                      ('degenerate', 'ann id 4 in img 2'), ('outside', 'ann id 6 in img 2'),
                      ('unknown_category', 'ann id 5 in img 1'), ('crowd', 'ann id 7 in img 2'),
                      ('unreadable', 'img ids 6, 7'), ('size_mismatch', 'img ids 3, 4, 5')):
        line = next((x for x in out.splitlines() if x.strip().startswith(kind)), '')
        assert ids in line, (kind, out)
    assert 'decoded size 60x40 (width x height' in out and 'annotation says 120x80' in out
    assert 'FAILED' in out

    good = tmp_path / 'good.json'
    good.write_text(json.dumps(_coco([(1, 200, 150), (2, 200, 150)],
                                     [BAD[0], BAD[6], BAD[7]])))
    assert _check_tool().main([str(good), '--img-dir', str(imgs)]) == 0  # in-process: quicker
    out = capsys.readouterr().out
    assert 'OK: no problems found' in out and 'crowd' in out


# -- 4. images with zero proposals --------------------------------------------------------
def test_zero_proposal_images_are_counted_and_reported(tmp_path, monkeypatch):
    from mmsniper.datasets import negatives
    from mmsniper.datasets.proposals import load_proposals, save_proposals

    logged = []
    monkeypatch.setattr(negatives, 'print_log', lambda msg, **kw: logged.append(msg))
    one = np.array([[1, 1, 20, 20]], np.float32)
    none = np.zeros((0, 4), np.float32)
    f = str(tmp_path / 'props.npz')
    # images 11 and 13 are in the file with zero proposals, 14 is not in it, 99 is unknown
    save_proposals(f, [10, 11, 12, 13, 99], [one, none, one, none, one],
                   [np.ones(len(b), np.float32) for b in (one, none, one, none, one)])
    src = negatives.NegativeChipSource(load_proposals(f), [10, 11, 12, 13, 14])
    assert (src.images_empty, src.images_without, src.unknown_ids) == (2, 1, 1)
    assert len(logged) == 1
    msg = logged[0]
    assert '3 of 5 training images get no negative chips' in msg
    assert '2 with zero proposals (img ids 11, 13)' in msg
    assert '1 not in the file (img id 14)' in msg
    assert 'ids of the file the data set does not have (ignored): 1 (img id 99)' in msg
