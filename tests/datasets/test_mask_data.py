"""Mask data (issue 16, item 5 and bad input): ScaleShapes writes COCO polygons of each
shape's visible part; the advisor and the chip tools work with and without
``segmentation``; malformed masks are counted (polygons) or stop the run (RLE of another
size), naming the annotation and image ids."""
from __future__ import annotations

import copy
import json
import os.path as osp

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mmsniper.annotations import AnnotationError, audit_coco, segmentation_problem

from conftest import REPO

MASK_TINY = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_mask_r18_scaleshapes.py')


def load(root, split='train'):
    with open(osp.join(root, 'annotations', f'{split}.json')) as f:
        return json.load(f)


def test_scaleshapes_polygons_are_the_visible_pixels(scaleshapes_root):
    from mmsniper.generated.scaleshapes import render_scaleshapes_image

    data = load(scaleshapes_root)
    anns = [a for a in data['annotations'] if a['image_id'] <= 3]
    assert anns and all(segmentation_problem(a['segmentation'], 1, 1) is None for a in anns)
    for i in range(3):  # the rendered instance map is the truth
        r = render_scaleshapes_image(0, 'train', i)
        h, w = r.instance_map.shape
        for k, a in enumerate(x for x in anns if x['image_id'] == i + 1):
            m = mask_utils.decode(mask_utils.merge(
                mask_utils.frPyObjects(a['segmentation'], h, w))).astype(bool)
            truth = r.instance_map == k + 1
            assert (m & truth).sum() / (m | truth).sum() >= 0.98, (i, k)
            assert abs(int(m.sum()) - a['area']) <= max(2, 0.02 * a['area'])


@pytest.fixture
def without_segmentation(workdir, scaleshapes_root, tmp_path):
    """A copy of the tiny set's train annotations with no ``segmentation``."""
    data = load(scaleshapes_root)
    for a in data['annotations']:
        a.pop('segmentation')
    path = tmp_path / 'train_boxes.json'
    path.write_text(json.dumps(data))
    return str(path)


def test_advisor_and_chip_tools_with_and_without_segmentation(workdir, scaleshapes_root,
                                                              without_segmentation,
                                                              monkeypatch):
    from mmsniper.advisor import load_coco_boxes
    from mmsniper.datasets.chip_stats import build_sniper_dataset
    from mmsniper.visualization.chips import draw_image_chips

    with_seg = osp.join(scaleshapes_root, 'annotations', 'train.json')
    a, b = load_coco_boxes(with_seg), load_coco_boxes(without_segmentation)
    assert np.array_equal(a.boxes, b.boxes)
    monkeypatch.chdir(workdir)
    pics = []
    for ann in (with_seg, without_segmentation):
        ds = build_sniper_dataset(MASK_TINY, {'train_dataloader.dataset.dataset.ann_file': ann})
        ds.full_init()
        pics.append(draw_image_chips(ds, 0, np.random.default_rng(0)))
    assert pics[0].shape == pics[1].shape
    # the masks are drawn: the two pictures differ inside the objects only
    assert (pics[0] != pics[1]).any()


def test_malformed_masks_are_counted_or_stop_the_run():
    data = dict(images=[dict(id=7, width=50, height=40)], categories=[dict(id=1, name='a')],
                annotations=[])
    good = [[1, 1, 20, 1, 20, 20]]
    for aid, seg in ((1, good), (2, [[1, 1, 20, 1, 20]]), (3, []), (4, [[]]),
                     (5, [[0, 0, 1, 1]])):
        data['annotations'].append(dict(id=aid, image_id=7, category_id=1,
                                        bbox=[1, 1, 19, 19], area=100, segmentation=seg))
    audit = audit_coco(data, 'x.json').audit
    assert audit.count('bad_mask') == 4
    report = audit.report()
    assert 'malformed mask' in report and 'ann ids 2 in img 7, 3 in img 7' in report
    # counted, training goes on, strict too (LoadAnnotations drops them by its own rule)
    audit.check(strict=True)
    # an RLE of another size: counted; a run whose pipeline loads masks stops at build
    # (mmdet's BitmapMasks would fail in a data worker), a box-only run goes on
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    from mmsniper.datasets.annotation_report import check_masks_loadable

    bad_rle = copy.deepcopy(data)
    bad_rle['annotations'] = [dict(id=9, image_id=7, category_id=1, bbox=[1, 1, 19, 19],
                                   area=100, segmentation=dict(size=[20, 25], counts='abc'))]
    audit = audit_coco(bad_rle, 'x.json').audit
    assert audit.count('bad_mask_rle') == 1
    audit.check(strict=False)
    init_default_scope('mmdet')

    class Data:
        def __init__(self, with_mask):
            self.pipeline = Compose([dict(type='LoadAnnotations', with_mask=with_mask)])

    check_masks_loadable(audit, Data(with_mask=False))
    with pytest.raises(AnnotationError, match=r'(?s)ann id 9 in img 7.*cannot load'):
        check_masks_loadable(audit, Data(with_mask=True))
    assert segmentation_problem([[1, 2, 3]], 10, 10) == 'polygon 0 has 3 coordinates (odd)'
