"""The scale advisor (mmsniper.advisor, tools/analysis_tools/advise_scales.py)."""
from __future__ import annotations

import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

from mmsniper.advisor import (
    COCO_DEFAULTS,
    config_snippet,
    coverage,
    evaluate_setting,
    load_coco_boxes,
    parse_coco,
    predict_chip_cost,
    propose_setting,
)
from mmsniper.chips import BoxTable, SniperSettings, generate_positive_chips, scale_factors
from mmsniper.chips.scales import image_scale_factors as level_factors

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BAND = (32.0, 160.0)


def _write(path, data) -> str:
    with open(path, 'w') as f:
        f.write(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _coco_file(images, boxes, **extra) -> dict:
    """``images``: [(id, w, h)]; ``boxes``: [(image_id, [x, y, w, h])] or dicts."""
    anns = []
    for j, b in enumerate(boxes):
        if isinstance(b, dict):
            anns.append(dict(dict(id=j + 1, category_id=1, iscrowd=0), **b))
        else:
            img, (x, y, w, h) = b
            anns.append(dict(id=j + 1, image_id=img, bbox=[x, y, w, h], area=w * h,
                             category_id=1, iscrowd=0))
    return dict(images=[dict(id=i, width=w, height=h, file_name=f'{i}.jpg')
                        for i, w, h in images],
                annotations=anns, categories=[dict(id=1, name='thing')], **extra)


def _coco_like(n_images: int, seed: int) -> dict:
    """COCO look-alike: long side 640, h/w in [0.6, 1.5], sqrt(area) ~ logN(3.743, 1.218),
    about 7 boxes per image (written here, independently of the advisor's own generator)."""
    rng = np.random.default_rng(seed)
    images, boxes = [], []
    for i in range(1, n_images + 1):
        ratio = rng.uniform(0.6, 1.5)
        w, h = (640, int(640 * ratio)) if ratio <= 1 else (int(640 / ratio), 640)
        images.append((i, w, h))
        for _ in range(rng.poisson(7)):
            side = float(np.exp(rng.normal(3.743, 1.218)))
            a = float(np.exp(rng.normal(0, 0.4)))
            bw, bh = min(max(side * a, 1), w), min(max(side / a, 1), h)
            boxes.append((i, [rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh]))
    return _coco_file(images, boxes)


def _aerial_like(n_images: int, per_image: int, seed: int) -> dict:
    """4000x4000 images, objects 4-40 px (uniform sqrt(area)), placed uniformly."""
    rng = np.random.default_rng(seed)
    images, boxes = [], []
    for i in range(1, n_images + 1):
        images.append((i, 4000, 4000))
        for _ in range(per_image):
            side = rng.uniform(4, 40)
            x, y = rng.uniform(0, 4000 - side, 2)
            boxes.append((i, [x, y, side, side]))
    return _coco_file(images, boxes)


@pytest.fixture(scope='module')
def coco_like(tmp_path_factory):
    path = tmp_path_factory.mktemp('coco_like') / 'train.json'
    boxes = load_coco_boxes(_write(path, _coco_like(1200, seed=7)))
    return boxes, propose_setting(boxes)


# -- reading annotation files -----------------------------------------------------------
def test_reads_boxes_in_file_order_as_xyxy(tmp_path):
    data = _coco_file([(7, 640, 480), (3, 100, 200)],
                      [(3, [10, 20, 30, 40]), (7, [0, 0, 64, 32]), (3, [1, 2, 3, 4])])
    b = load_coco_boxes(_write(tmp_path / 'a.json', data))
    assert b.image_ids.tolist() == [7, 3]
    assert b.image_sizes.tolist() == [[640, 480], [100, 200]]
    assert b.offsets.tolist() == [0, 1, 3]
    assert b.image_boxes(0).tolist() == [[0, 0, 64, 32]]
    assert b.image_boxes(1).tolist() == [[10, 20, 40, 60], [1, 2, 4, 6]]
    assert b.skipped == {}
    # the one ragged table type of the package (ground truth, proposals, the advisor)
    assert isinstance(b, BoxTable) and b.row_of(3) == 1 and b.image_size(1) == (100.0, 200.0)


@pytest.mark.parametrize('content, message', [
    ('', 'the file is empty'),
    ('{"images": [{"id": 1, "width": 10, "height": 10}], "annotations": [',
     'not valid JSON'),
    ('[1, 2]', 'expected a JSON object'),
    ('{"annotations": []}', 'missing key "images"'),
    ('{"images": [{"id": 1, "width": 10, "height": 10}]}', 'missing key "annotations"'),
    ('{"images": [], "annotations": []}', '"images" is empty'),
    ('{"images": [{"id": 1, "width": 10, "height": 10}], "annotations": []}',
     '"annotations" is empty: no boxes'),
    ('{"images": [{"id": 1, "height": 10}], "annotations": []}', 'images[0] (id 1) has no "width"'),
    ('{"images": [{"id": 1, "width": 9, "height": 10}], "annotations": [{"id": 5, '
     '"image_id": 1}]}', 'annotations[0] (id 5) has no "bbox"'),
    ('{"images": [{"id": 1, "width": 9, "height": 10}], "annotations": [{"id": 5, '
     '"image_id": 1, "bbox": [1, 2, 3]}]}', 'annotations.bbox[0]: expected 4 numbers'),
    ('{"images": [{"id": 1, "width": 9, "height": 10}], "annotations": [{"id": 5, '
     '"image_id": 1, "bbox": [1, 2, "x", 4]}]}', 'annotations.bbox[0]: expected 4 numbers'),
])
def test_broken_files_raise_naming_the_problem(tmp_path, content, message):
    path = _write(tmp_path / 'bad.json', content)
    with pytest.raises(ValueError) as e:
        load_coco_boxes(path)
    assert message in str(e.value)
    assert path in str(e.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match='no such annotation file'):
        load_coco_boxes(str(tmp_path / 'nope.json'))


def test_unknown_image_ids_raise_or_are_counted(tmp_path):
    data = _coco_file([(1, 640, 480)], [(1, [0, 0, 50, 50]), (9, [0, 0, 5, 5]),
                                        (9, [1, 1, 5, 5])])
    path = _write(tmp_path / 'a.json', data)
    with pytest.raises(ValueError, match=r'2 annotations refer to image ids .* \[9\]'):
        load_coco_boxes(path)
    b = load_coco_boxes(path, skip_unknown_images=True)
    assert len(b.boxes) == 1
    assert b.skipped == {'unknown_image': 2}
    assert b.examples['unknown_image'] == [2, 3]


def test_bad_sizes_are_counted_not_fatal(tmp_path):
    data = _coco_file(
        [(1, 640, 480), (2, 0, 480), (3, 640, -5)],
        [(1, [0, 0, 50, 50]),              # kept
         (1, [10, 10, 0, 30]),             # zero width
         (1, [10, 10, -4, 30]),            # negative width
         (1, [10, 10, 0.5, 30]),           # sub-pixel width (MMDetection drops it)
         (1, [700, 10, 20, 20]),           # outside the image
         (2, [0, 0, 10, 10]),              # image of zero width
         (3, [0, 0, 10, 10]),              # image of negative height
         dict(image_id=1, bbox=[5, 5, 20, 20], area=0),       # zero area
         dict(image_id=1, bbox=[5, 5, 20, 20], area=400, iscrowd=1),
         dict(image_id=1, bbox=[5, 5, 20, 20], area=400, category_id=99)])
    b = load_coco_boxes(_write(tmp_path / 'a.json', data))
    assert b.boxes.tolist() == [[0, 0, 50, 50]]
    assert b.image_ids.tolist() == [1]
    # the shared policy's kinds (mmsniper.annotations), as training counts them
    assert b.skipped == {'degenerate': 4, 'outside': 1, 'image_size': 2, 'bad_image': 2,
                         'crowd': 1, 'unknown_category': 1}
    assert b.examples['outside'] == [5]
    assert b.examples['degenerate'] == [2, 3, 4, 8]
    assert b.examples['image_size'] == [2, 3]
    assert b.audit.report().startswith('annotations: 8 of 10 boxes of ')


def test_no_usable_box_is_an_error_naming_why(tmp_path):
    data = _coco_file([(1, 640, 480)], [(1, [10, 10, 0, 30]), (1, [10, 10, 5, -1])])
    with pytest.raises(ValueError, match='none of the 2 annotations is usable.*2 zero, '
                                         'negative or sub-pixel size'):
        load_coco_boxes(_write(tmp_path / 'a.json', data))


# -- factors, coverage, pixel cost ------------------------------------------------------
def test_level_factors_equal_the_engine():
    rng = np.random.default_rng(0)
    sizes = np.stack([rng.integers(1, 5000, 300), rng.integers(1, 5000, 300)], 1).astype(float)
    for scale in [(1400, 2000), (800, 1280), (-1, 512), (480, -1), 2.5, (333, 333)]:
        expect = [scale_factors(tuple(s), [scale])[0] for s in sizes]
        assert level_factors(sizes, scale).tolist() == expect


def test_trained_boxes_are_exactly_those_the_cover_uses():
    """Boxes marked trained drive the chips: alone they give the same chips, each lies
    in a chip of its level; boxes not trained change nothing."""
    rng = np.random.default_rng(1)
    data = _coco_file([(1, 1800, 1200)], [(1, [x, y, s * a, s / a]) for x, y, s, a in zip(
        rng.uniform(-50, 1750, 80), rng.uniform(-50, 1150, 80),
        np.exp(rng.normal(3.5, 1.2, 80)), np.exp(rng.normal(0, 0.8, 80)))])
    b = parse_coco(data)
    setting = COCO_DEFAULTS
    cov = coverage(b, setting, BAND)
    boxes, size = b.boxes, tuple(b.image_sizes[0])
    for k in range(3):
        one = ([setting.scales[k]], [setting.train_ranges[k]])
        all_chips = generate_positive_chips(boxes, size, *one, min_size=10)
        trained_chips = generate_positive_chips(boxes[cov.trained[k]], size, *one, min_size=10)
        assert [c.box for c in all_chips] == [c.box for c in trained_chips]
        # Every trained box, clipped and scaled as the cover does, lies in a chip window.
        f = all_chips[0].scale
        sw, sh = round(size[0] * f), round(size[1] * f)
        scaled = np.minimum(np.clip(boxes[cov.trained[k]], 0, size * 2) * f, (sw, sh) * 2)
        windows = np.asarray([c.scaled_box for c in all_chips], dtype=float)
        inside = ((windows[:, None, :2] <= scaled[None, :, :2] + 1e-9).all(-1)
                  & (windows[:, None, 2:] >= scaled[None, :, 2:] - 1e-9).all(-1))
        assert inside.any(axis=0).all()
    assert cov.trained.any(axis=1).all() and not cov.trained.all()


def test_coverage_categories():
    b = parse_coco(_coco_file([(1, 640, 640)], [
        (1, [0, 0, 2, 2]),          # 2 px: below the band even at 3x
        (1, [0, 0, 20, 20]),        # 20 px: in band at 3x (60 px)
        (1, [0, 0, 600, 600])]))    # 600 px: above the band at the coarsest (0.5x: 300)
    setting = SniperSettings((3.0, 0.5), ((-1, 100), (100, -1)), 512, 32, (3.0, 0.5),
                             ((-1, 100), (100, -1)))
    cov = coverage(b, setting, BAND)
    assert cov.too_small.tolist() == [True, False, False]
    assert cov.covered.tolist() == [False, True, False]
    assert cov.too_large.tolist() == [False, False, True]
    assert not cov.in_gap.any()
    # A 20 px box in band at 3x but outside that level's range: a gap, not "small".
    gap = SniperSettings((3.0, 0.5), ((-1, 10), (10, -1)), 512, 32, (3.0, 0.5),
                         ((-1, 10), (10, -1)))
    assert coverage(b, gap, BAND).in_gap.tolist() == [False, True, False]


def test_prediction_equals_the_full_computation():
    """predict_chip_cost over every image IS a chip-statistics pass: each image in turn
    through generate_positive_chips, one rng drawn through the images."""
    data = _coco_like(40, seed=3)
    aerial = _aerial_like(2, 30, seed=4)
    for a in aerial['annotations']:
        a['image_id'] += 1000
    for im in aerial['images']:
        im['id'] += 1000
    data['images'] += aerial['images']
    data['annotations'] += aerial['annotations']
    b = parse_coco(data)
    setting = SniperSettings(((1500, 2000), (500, 700), 0.25), ((-1, 60), (40, 200), (120, -1)),
                             384, 24, (2.0, 1.0, 0.25), ((-1, 70), (30, 240), (90, -1)))
    cost = predict_chip_cost(b, setting, seed=5)
    # The direct computation, written out.
    rng = np.random.default_rng([5, 0])
    chips = np.zeros((b.num_images, 3), dtype=int)
    for i, img in enumerate(data['images']):
        boxes = np.asarray([[x, y, x + w, y + h] for a in data['annotations']
                            if a['image_id'] == img['id'] for x, y, w, h in [a['bbox']]])
        for c in generate_positive_chips(boxes.reshape(-1, 4), (img['width'], img['height']),
                                         setting.scales, setting.train_ranges, 384, 24, rng,
                                         min_size=10):
            chips[i, c.level] += 1
    assert cost.chips.tolist() == chips.tolist()
    assert not cost.sampled
    assert cost.pixels_per_image == chips.sum() / b.num_images * 384 ** 2
    assert chips[-2:].sum() > chips[:-2].sum() / 40  # the large images count too


def test_prediction_equals_chip_stats_of_the_written_config(tmp_path):
    """The advisor's count equals what tools/analysis_tools/chip_stats.py measures on the
    config that the fragment makes (MMDetection's CocoDataset reading the same file)."""
    from mmsniper.datasets.chip_stats import build_sniper_dataset, compute_chip_stats

    data = _coco_like(30, seed=8)
    big = _aerial_like(1, 40, seed=9)
    big['images'][0]['id'] = 999
    for a in big['annotations']:
        a['image_id'], a['id'] = 999, a['id'] + 10000
    data['images'] += big['images']
    data['annotations'] += big['annotations']
    data['annotations'][0]['iscrowd'] = 1  # crowd boxes drive no chip, in either
    ann = _write(tmp_path / 'train.json', data)
    boxes = load_coco_boxes(ann)
    setting = SniperSettings(((1200, 1600), (600, 800), (-1, 384)),
                             ((-1, 50), (30, 160), (100, -1)), 384, 24,
                             ((1200, 1600), (600, 800), (-1, 384)),
                             ((-1, 60), (25, 190), (80, -1)))
    base = osp.relpath(osp.join(REPO, 'configs', 'sniper_faster_r101.py'), str(tmp_path))
    _write(tmp_path / 'setting.py', config_snippet(setting, base=base))
    cfg = _write(tmp_path / 'cfg.py', f"""_base_ = ['./setting.py']
train_dataloader = dict(dataset=dict(dataset=dict(
    data_root='', ann_file={ann!r}, metainfo=dict(classes=('thing',)),
    data_prefix=dict(img=''))))
""")
    stats = compute_chip_stats(build_sniper_dataset(cfg), seed=3, progress=False)
    cost = predict_chip_cost(boxes, setting, seed=3)
    assert stats['images'] == boxes.num_images == 31
    assert [lv['chips_per_image'] for lv in stats['levels']] == \
        cost.level_chips_per_image.tolist()
    assert stats['chip_mpix_per_image'] == pytest.approx(cost.pixels_per_image / 1e6)


def test_sampled_estimate_is_close_to_the_full_count():
    b = parse_coco(_coco_like(600, seed=11))
    full = evaluate_setting(b, COCO_DEFAULTS, BAND, sample=0)
    part = evaluate_setting(b, COCO_DEFAULTS, BAND, sample=150)
    assert full['sample_images'] == 600 and part['sample_images'] == 150
    assert abs(part['pixels_per_image'] / full['pixels_per_image'] - 1) < 0.1
    assert part['covered'] == full['covered']  # coverage counts every object, not a sample


# -- proposals --------------------------------------------------------------------------
def _check_ranges(setting):
    lo_hi = [(lo, hi) for lo, hi in setting.train_ranges]
    assert lo_hi[0][0] == -1 and lo_hi[-1][1] == -1  # finest open below, coarsest above
    for (lo0, hi0), (lo1, _) in zip(lo_hi, lo_hi[1:]):
        assert lo1 < hi0, f'ranges {lo_hi} do not overlap'
        assert lo0 == -1 or lo0 < lo1
    for (lo, hi), (tlo, thi) in zip(lo_hi, setting.test_ranges):
        assert (tlo == -1) == (lo == -1) and (thi == -1) == (hi == -1)
        assert (lo == -1 or tlo < lo) and (hi == -1 or thi > hi)


def test_coco_like_proposal_is_close_to_the_paper(coco_like):
    boxes, advice = coco_like
    setting = advice.setting
    assert len(setting.scales) == 3
    f = [float(np.median(level_factors(boxes.image_sizes, s))) for s in setting.scales]
    assert f[0] > f[1] > f[2]
    assert 2.6 <= f[0] <= 3.6, f  # the paper: 3 (1400 / 480 = 2.92 on a 640x480 image)
    assert all(isinstance(s, tuple) and len(s) == 2 for s in setting.scales)
    _check_ranges(setting)
    assert setting.test_scales == setting.scales
    assert (setting.chip_size, setting.stride) == (512, 32)
    # Better coverage than the COCO defaults under the same band, at no more pixels.
    ours = evaluate_setting(boxes, setting, BAND, sample=300)
    coco = evaluate_setting(boxes, COCO_DEFAULTS, BAND, sample=300)
    assert ours['covered'] > coco['covered']
    assert abs(ours['too_small'] - 0.125) < 0.02  # --leave-small
    assert ours['too_large'] < 0.01 < coco['too_large']
    assert ours['pixels_per_image'] <= coco['pixels_per_image']
    assert all(lv['trained'] > 0.1 for lv in ours['levels'])


def test_aerial_like_proposal_is_finer_and_wastes_no_level(tmp_path):
    boxes = load_coco_boxes(_write(tmp_path / 'aerial.json', _aerial_like(4, 50, seed=2)))
    advice = propose_setting(boxes, scale_form='factor')
    setting = advice.setting
    f = list(setting.scales)
    assert f == sorted(f, reverse=True)
    # Objects of 4-40 px need upscaling: the COCO scales shrink these images (x0.35 ...).
    assert f[-1] >= 1.0 and f[0] >= 3.0
    assert f[0] == pytest.approx(32 / np.quantile(boxes.sizes(), 0.125), rel=0.01)
    if len(f) > 1:
        _check_ranges(setting)
    else:
        assert setting.train_ranges == ((-1, -1),)
    ours = evaluate_setting(boxes, setting, BAND, sample=0)
    coco = evaluate_setting(boxes, COCO_DEFAULTS, BAND, sample=0)
    assert all(lv['in_band'] > 0.05 for lv in ours['levels'])  # no wasted level
    assert min(lv['trained'] for lv in coco['levels']) == 0    # the COCO coarse level is
    assert ours['covered'] > 0.8 > coco['covered']
    # The predicted cost is the engine's count over every image.
    full = predict_chip_cost(boxes, setting)
    assert ours['pixels_per_image'] == full.pixels_per_image


def test_leave_small_and_max_upscale_move_the_finest_level(coco_like):
    boxes, advice = coco_like
    finer = propose_setting(boxes, leave_small=0.05)
    capped = propose_setting(boxes, leave_small=0.05, max_upscale=2.0)
    assert finer.factors[0] > advice.factors[0] * 1.5
    assert capped.factors[0] == pytest.approx(2.0)
    assert any('capped at x2' in n for n in capped.notes)


def test_budget_trades_small_objects_for_pixels(coco_like):
    boxes, advice = coco_like
    cost = evaluate_setting(boxes, advice.setting, BAND, sample=300)['pixels_per_image']
    tight = propose_setting(boxes, budget=0.8 * cost)
    assert tight.factors[0] < advice.factors[0]
    assert evaluate_setting(boxes, tight.setting, BAND, sample=300)['pixels_per_image'] < cost
    assert any('budget' in n for n in tight.notes)


@pytest.mark.parametrize('kwargs, message', [
    (dict(band=(160, 32)), 'band: expected 0 < lo < hi'),
    (dict(chip_size=128), 'must fit a chip'),
    (dict(overlap=6), 'expected less than the band ratio'),
    (dict(leave_small=0.7), 'leave_small: expected a fraction'),
    (dict(stride=600), 'stride: expected'),
    (dict(scale_form='pixels'), "scale_form: expected 'resolution' or 'factor'"),
])
def test_bad_arguments_are_named(coco_like, kwargs, message):
    with pytest.raises(ValueError, match=message):
        propose_setting(coco_like[0], **kwargs)


# -- the config fragment and the CLI ----------------------------------------------------
def test_snippet_loads_and_agrees_with_the_sniper_config(coco_like, tmp_path):
    from mmengine.config import Config

    from mmsniper.advisor import ADVISED_KEYS
    from mmsniper.engine.sniper_settings import apply_sniper_settings

    setting = coco_like[1].setting
    expect = setting.as_dict(ADVISED_KEYS)

    def lists(v):
        return [lists(x) for x in v] if isinstance(v, (list, tuple)) else v

    # 1. The fragment alone: the `sniper` block and nothing else (the one edit).
    frag = _write(tmp_path / 'frag.py', config_snippet(setting, header=['a header']))
    cfg = Config.fromfile(frag, import_custom_modules=False)
    assert {k: lists(v) for k, v in cfg.sniper.items()} == {k: lists(v) for k, v in expect.items()}
    assert set(cfg.keys()) == {'sniper'}
    # 2. Inheriting the R-101 SNIPER config (--base), then _base_d by a user config.
    base = osp.relpath(osp.join(REPO, 'configs', 'sniper_faster_r101.py'), str(tmp_path))
    _write(tmp_path / 'setting.py', config_snippet(setting, base=base))
    user = _write(tmp_path / 'user.py', "_base_ = ['./setting.py']\n")
    # 3. Pasted at the end of a config that inherits it.
    pasted = _write(tmp_path / 'pasted.py', f'_base_ = [{base!r}]\n' + config_snippet(setting))
    for path in (user, pasted):
        # what the runner builds from it (SniperRunner applies the block)
        cfg = apply_sniper_settings(Config.fromfile(path, import_custom_modules=False))
        assert lists(cfg.sniper.scales) == lists(setting.scales)
        assert lists(cfg.train_dataloader.dataset.train_ranges) == lists(setting.train_ranges)
        assert lists(cfg.train_dataloader.dataset.scales) == lists(setting.scales)
        assert cfg.tta_model.type == 'SniperTTAModel'
        assert cfg.sniper.neg_chips_per_img == 0       # the base's other keys remain
        pyramid = cfg.tta_pipeline[1]['transforms'][0]
        assert [lists(t['scale']) for t in pyramid] == lists(setting.test_scales)
        assert [lists(t['test_range']) for t in pyramid] == lists(setting.test_ranges)
        assert [t['level'] for t in pyramid] == list(range(len(setting.scales)))


def _tool():
    path = osp.join(REPO, 'tools', 'analysis_tools', 'advise_scales.py')
    spec = importlib.util.spec_from_file_location('advise_scales', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_writes_report_snippet_plot_and_json(tmp_path, capsys):
    ann = _write(tmp_path / 'train.json', _coco_like(150, seed=5))
    out, png, js = (str(tmp_path / n) for n in ('s.py', 'h.png', 'a.json'))
    rc = _tool().main([ann, '--out', out, '--plot', png, '--json', js, '--sample', '50',
                       '--chip-size', '384', '--band', '24', '128'])
    text = capsys.readouterr().out
    assert rc == 0
    for row in ('COCO defaults', 'too small (below band everywhere)', 'positive chips / image',
                'objects in band 24-128', 'cost sample (images)', 'sniper = dict('):
        assert row in text
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with open(js) as f:
        report = json.load(f)
    assert report['proposal']['setting']['chip_size'] == 384
    assert report['proposal']['setting']['stride'] == 24
    assert set(report['reports']) == {'proposal', 'COCO defaults'}
    assert report['reports']['proposal']['sample_images'] == 50
    with open(out) as f:
        snippet = f.read()
    assert snippet.startswith('# SNIPER setting proposed by')
    scales = [tuple(s) for s in report['proposal']['setting']['scales']]
    assert f'    scales={scales!r},' in snippet


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    ann = _write(tmp_path / 'broken.json', '{"images": [')
    assert _tool().main([ann, '--quiet']) == 2
    err = capsys.readouterr().err
    assert err.startswith('advise_scales: error: ') and 'not valid JSON' in err
    assert 'Traceback' not in err


def test_cli_strict_stops_on_bad_annotations_and_names_them(tmp_path, capsys):
    """The advisor counts bad boxes with the shared policy; --strict turns them into an error."""
    data = _coco_file([(1, 640, 480)], [(1, [0, 0, 50, 50]), (1, [10, 10, float('nan'), 5]),
                                        dict(image_id=1, bbox=[5, 5, 20, 20], area=400,
                                             category_id=7)])
    ann = _write(tmp_path / 'bad.json', data)
    assert _tool().main([ann, '--quiet', '--strict']) == 2
    err = capsys.readouterr().err
    assert 'annotations: 2 of 3 boxes' in err
    assert '1 non-finite (ann id 2 in img 1)' in err
    assert '1 unknown category (ann id 3 in img 1)' in err
