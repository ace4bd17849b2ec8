"""Proposal files and negative chips in the epoch plan."""
from __future__ import annotations

import json
import os.path as osp

import numpy as np
import pytest

import mmsniper  # noqa: F401
from mmsniper.datasets import SniperDataset
from mmsniper.datasets.proposals import load_proposals, save_proposals


def test_roundtrip_and_lookup(tmp_path):
    f = str(tmp_path / 'p.npz')
    boxes = [np.array([[0, 0, 10, 10], [5, 5, 20, 20]], np.float32), np.zeros((0, 4))]
    save_proposals(f, [7, 9], boxes, [np.array([0.9, 0.5]), np.zeros(0)],
                   [np.array([0, 2]), np.zeros(0)])
    p = load_proposals(f)
    b, s = p.get(7)
    np.testing.assert_array_equal(b, boxes[0])
    assert s.tolist() == pytest.approx([0.9, 0.5])
    assert len(p.get(9)[0]) == 0 and len(p.get(12345)[0]) == 0
    assert p.levels.tolist() == [0, 2]


def test_missing_corrupt_and_truncated_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='extract_proposals.py'):
        load_proposals(str(tmp_path / 'nope.npz'))
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'not a zip at all')
    with pytest.raises(ValueError, match='corrupt or truncated'):
        load_proposals(str(bad))
    good = str(tmp_path / 'good.npz')
    save_proposals(good, [1], [np.ones((400, 4), np.float32) * np.arange(4)], [np.ones(400)])
    data = open(good, 'rb').read()
    trunc = tmp_path / 'trunc.npz'
    trunc.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='corrupt or truncated'):
        load_proposals(str(trunc))
    incons = str(tmp_path / 'incons.npz')
    np.savez(incons, format=np.array([1]), image_ids=np.array([1, 2]),
             offsets=np.array([0, 5]), boxes=np.zeros((5, 4), np.float32),
             scores=np.zeros(5, np.float32), levels=np.zeros(5, np.int8))
    with pytest.raises(ValueError, match='inconsistent'):
        load_proposals(incons)


def _dataset(root, ann_file='annotations/train.json', **kw):
    inner = dict(type='CocoDataset', data_root=root, ann_file=ann_file,
                 data_prefix=dict(img='images/train/'), filter_cfg=dict(filter_empty_gt=False),
                 pipeline=[])
    return SniperDataset(inner, scales=[2.0, 1.0, 0.4], train_ranges=[(-1, 48), (24, 112),
                                                                        (96, -1)],
                         chip_size=256, stride=16, **kw)


def test_negatives_need_a_proposal_file(scaleshapes_root, tmp_path):
    with pytest.raises(ValueError, match='train_dataloader.dataset.neg_chips_per_img = 2 needs '
                                         'a proposal file'):
        _dataset(scaleshapes_root, neg_chips_per_img=2)
    with pytest.raises(FileNotFoundError, match=r'nope\.npz.*extract_proposals'):
        _dataset(scaleshapes_root, neg_chips_per_img=2, proposals=str(tmp_path / 'nope.npz'))


def test_plan_draws_negative_chips_and_reports_unknown_ids(scaleshapes_root, tmp_path,
                                                           capsys):
    ann = json.load(open(osp.join(scaleshapes_root, 'annotations', 'train.json')))
    ids = [im['id'] for im in ann['images']]
    rng = np.random.default_rng(0)
    boxes, scores = [], []
    for im in ann['images'][:-1]:                  # the last image gets no proposals
        # a dense cluster of small proposals in the bottom-right corner of every image
        w, h = im['width'], im['height']
        c = rng.uniform(0, 40, (60, 2)) + (w - 60, h - 60)
        boxes.append(np.concatenate([c, c + 12], 1).astype(np.float32))
        scores.append(np.ones(60, np.float32))
    f = str(tmp_path / 'props.npz')
    save_proposals(f, ids[:-1] + [999999], boxes + [boxes[0]], scores + [scores[0]])
    # the first image loses its annotations: a background-only image
    ann['annotations'] = [a for a in ann['annotations'] if a['image_id'] != ids[0]]
    ann_file = str(tmp_path / 'train_one_empty.json')
    json.dump(ann, open(ann_file, 'w'))
    ds = _dataset(scaleshapes_root, ann_file=ann_file, neg_chips_per_img=2, proposals=f,
                  neg_min_proposals=10)
    src = ds._negatives
    assert src.images_without == 1 and src.unknown_ids == 1
    plan = ds.plan_epoch(0, seed=0)
    negs = [t for t in plan if t.chip.kind == 'neg']
    assert negs and ds.last_plan_stats['neg_chips'] == len(negs)
    per_image = {}
    for t in negs:
        per_image[t.index] = per_image.get(t.index, 0) + 1
    assert max(per_image.values()) <= 2
    assert len(ds) - 1 not in per_image                 # the image without proposals
    # an image without any annotation still gives negative chips
    assert len(ds.image_annotations(0)[0]) == 0 and 0 in per_image
    assert not any(t.index == 0 and t.chip.kind == 'pos' for t in plan)


def test_extraction_model_is_fused_channels_last_and_gives_the_same_proposals():
    """prepare_for_extraction: BatchNorm folded, channels_last on an RPN (not on a model with
    an RoI stage, whose CPU RoIAlign needs NCHW memory); the proposals are the original's."""
    import copy
    import os.path as osp

    import torch
    from mmdet.structures import DetDataSample
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    from mmsniper.apis.proposals import prepare_for_extraction

    from conftest import REPO

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes', 'sniper_rpn_r18_scaleshapes.py'))
    torch.manual_seed(0)
    rpn = MODELS.build(cfg.model).eval()
    for m in rpn.modules():   # BatchNorm statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    fast = prepare_for_extraction(copy.deepcopy(rpn), channels_last=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert fast.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)

    def proposals(model):
        sample = DetDataSample(metainfo=dict(img_shape=(320, 448), ori_shape=(320, 448),
                                             scale_factor=(1.0, 1.0)))
        data = dict(inputs=[torch.randint(0, 255, (3, 320, 448), generator=torch.Generator()
                                          .manual_seed(1)).to(torch.uint8)],
                    data_samples=[sample])
        with torch.no_grad():
            return model.test_step(data)[0].pred_instances

    a, b = proposals(rpn), proposals(fast)
    assert len(a) > 50 and len(a) == len(b)
    assert torch.allclose(a.bboxes, b.bboxes, atol=1e-2)
    assert torch.allclose(a.scores, b.scores, atol=1e-4)

    two_stage = Config.fromfile(osp.join(REPO, 'configs', 'scaleshapes',
                                         'sniper_faster_r18_scaleshapes.py'))
    frcnn = prepare_for_extraction(MODELS.build(two_stage.model).eval(), channels_last=True)
    assert not frcnn.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
