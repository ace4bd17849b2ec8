"""The Airbus Aircraft comparison (tools/analysis_tools/airbus_compare.py): the size-band
evaluation on a case with a known answer, the plan, and the SAHI arm end to end on two tiny
generated images (SAHI's slices, training, sahi's sliced prediction, the evaluation), resumed
without running anything again."""
from __future__ import annotations

import json
import os.path as osp
import sys

import numpy as np
import pytest

from conftest import FAST, REPO, make_airbus_source

sys.path.insert(0, osp.join(REPO, 'tools'))
from airbus_runs import compare as cmp  # noqa: E402  (tools/, not the library)
from scaleshapes_runs import experiment as exp  # noqa: E402

from mmsniper.analysis.size_bands import coco_ap_by_size  # noqa: E402
from mmsniper.annotations.airbus_aircraft import convert_airbus_aircraft  # noqa: E402
from mmsniper.visualization.comparison import draw_comparison, match_found  # noqa: E402


def _gt(boxes):
    return dict(images=[dict(id=1, width=1000, height=1000, file_name='a.jpg')],
                categories=[dict(id=1, name='airplane')],
                annotations=[dict(id=i + 1, image_id=1, category_id=1, bbox=b,
                                  area=b[2] * b[3], iscrowd=0) for i, b in enumerate(boxes)])


def test_size_bands_known_answer():
    # sqrt(area) 40 and 50 (< 64), 100 (64-128), 200 (> 128), original pixels
    gt = _gt([[10, 10, 40, 40], [600, 600, 50, 50], [100, 100, 100, 100],
              [300, 300, 200, 200]])
    dets = [dict(image_id=1, category_id=1, bbox=[10, 10, 40, 40], score=0.9),
            dict(image_id=1, category_id=1, bbox=[300, 300, 200, 200], score=0.8)]
    m = coco_ap_by_size(gt, dets)
    assert (m['gt_<64'], m['gt_64-128'], m['gt_>128']) == (2, 1, 1)
    # a band's AP: 101-point interpolated precision; recall 0.5 at precision 1 -> 51 / 101
    assert m['AP_<64'] == pytest.approx(100 * 51 / 101, abs=0.01)
    assert m['AP_64-128'] == 0.0 and m['AP_>128'] == 100.0
    assert m['AP'] == m['AP50'] == m['AP75'] == pytest.approx(100 * 51 / 101, abs=0.01)
    # a box 0.7 IoU off counts at AP50, not at AP75
    shifted = [dict(image_id=1, category_id=1, bbox=[300, 300, 200, 140], score=0.9)]
    m = coco_ap_by_size(_gt([[300, 300, 200, 200]]), shifted)
    assert m['AP50'] == 100.0 and m['AP75'] == 0.0
    assert m['AP_<64'] == m['AP_64-128'] == -100.0  # no ground truth there: pycocotools' -1
    assert coco_ap_by_size(gt, [])['AP'] == 0.0
    with pytest.raises(ValueError, match='bands'):
        coco_ap_by_size(gt, dets, bands=((64, 32),))


def test_found_and_missed_are_marked():
    gt = np.array([[0, 0, 100, 100], [200, 200, 300, 300]], float)
    dets = np.array([[2, 2, 100, 100], [0, 0, 100, 100], [500, 500, 600, 600]], float)
    found, true = match_found(gt, dets)
    assert found.tolist() == [True, False]
    assert true.tolist() == [True, False, False]  # one match per object: the second is false
    pic = draw_comparison(np.zeros((700, 700, 3), np.uint8), gt,
                          {'A': (dets, np.array([0.9, 0.8, 0.7])), 'B': (dets[:0], [])},
                          width=350)
    assert pic.shape == (350 + 28, 3 * 350, 3) and pic.any()


def test_plan_and_dry_run():
    plan = cmp.plan_runs(list(cmp.ARMS), (0, 1))
    assert plan[:len(cmp.ARMS)] == [(a, 0) for a in cmp.ARMS]
    assert plan[len(cmp.ARMS):] == [('sniper', 1), ('sniper_partial', 1), ('sahi', 1),
                                    ('autofocus', 1), ('mmdet_best', 1)]
    assert cmp.plan_runs(['sniper'], (0, 1)) == [('sniper', 0), ('sniper', 1)]
    assert cmp.applicable_tests('sniper') == ['single', 'single_880', 'single_1375',
                                              'single_1100', 'dettta', 'dettta_880',
                                              'dettta_1100', 'pyramid', 'sahi']
    assert 'autofocus' in cmp.applicable_tests('autofocus')
    assert not {'dettta', 'single_1375', 'single_1100', 'dettta_1100'} & set(cmp.DEFAULT_TESTS)
    assert set(cmp.DEFAULT_ARMS) < set(cmp.ARMS)
    text = cmp.dry_run_text(None, (0, 1), 25, 20, 4)
    assert 'estimated machine time' in text and 'sahi seed 1' in text
    assert 'single_scale_880 seed 0' in text and 'single_scale seed 0' not in text
    # the better MMDetection arm of the pair that ran: the 880 pair by default, else 2048's
    runs = {f'{a}_seed0': dict(tests={ARM.natural_test: dict(metrics=dict(AP=ap))})
            for a, ARM, ap in ((a, cmp.ARMS[a], ap) for a, ap in (
                ('single_scale', 3.0), ('jitter', 4.0), ('single_scale_880', 6.0),
                ('jitter_880', 5.0), ('single_scale_1100', 7.0), ('jitter_1100', 8.0)))}
    assert cmp._mmdet_best(runs, 0, cmp.DEFAULT_ARMS) == 'single_scale_880'
    assert cmp._mmdet_best(runs, 0, ['single_scale', 'jitter', 'sniper']) == 'jitter'
    # the 25-minute pair: single-scale at 1100 already ran, jitter at 1100 joins it
    assert cmp._mmdet_best(runs, 0, ['single_scale_1100', 'jitter_1100']) == 'jitter_1100'
    # no pair asked for: the whole-image arms asked for compete, one alone is the best
    assert cmp._mmdet_best(runs, 0, ['single_scale', 'sniper']) == 'single_scale'
    assert cmp._mmdet_best(runs, 0, ['single_scale', 'single_scale_880']) == 'single_scale_880'
    assert cmp._mmdet_best(runs, 0, ['sniper', 'sahi']) is None
    del runs['jitter_880_seed0']
    assert cmp._mmdet_best(runs, 0, cmp.DEFAULT_ARMS) is None  # not both ran yet
    del runs['jitter_1100_seed0']
    assert cmp._mmdet_best(runs, 0, ['single_scale_1100', 'jitter_1100']) is None
    assert cmp._mmdet_best(runs, 0, ['single_scale_1100']) == 'single_scale_1100'  # alone
    assert cmp._mmdet_best(runs, 0, ['single_scale_1375']) is None  # not run yet
    assert cmp.plan_runs(['sniper', 'single_scale_1100'], (0, 1)) == [
        ('sniper', 0), ('single_scale_1100', 0), ('sniper', 1), ('mmdet_best', 1)]
    assert cmp.plan_runs(['sniper', 'sahi'], (0, 1))[-1] == ('sahi', 1)
    with pytest.raises(ValueError, match='arms'):
        cmp.run_compare('x', arms=['nope'])


def test_a_later_call_keeps_the_runs_it_does_not_name(tmp_path, monkeypatch):
    """A folder's record is every run it holds: a call with other arms (or fewer seeds)
    adds its runs to the earlier ones instead of dropping them; a different budget is
    refused."""
    root = tmp_path / 'data'
    (root / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        (root / 'annotations' / f'{split}.json').write_text(
            json.dumps(dict(images=[dict(id=1)], annotations=[], categories=[])))

    def fake_run_arm(name, out_dir, seed, *args, **kwargs):
        return dict(arm=name, seed=seed, iters=10,
                    tests={cmp.ARMS[name].natural_test: dict(metrics=dict(AP=1.0))})

    def write_json(out_dir, res, markdown, plot):
        with open(osp.join(out_dir, 'results.json'), 'w') as f:
            json.dump(res, f)

    monkeypatch.setattr(cmp, 'run_arm', fake_run_arm)
    monkeypatch.setattr(cmp, 'results_markdown', lambda res: '')
    monkeypatch.setattr(cmp, 'write_results', write_json)
    out = str(tmp_path / 'out')

    kw = dict(seeds=(0, 1), minutes=25, pictures=0, echo=False, data_root=str(root))
    cmp.run_compare(out, arms=['single_scale_1100'], **kw)
    res = cmp.run_compare(out, arms=['single_scale_1100', 'jitter_1100'], **kw)
    # the later call's plan: both arms in seed 0, then its pair's best (the first, tied)
    assert sorted(res['runs']) == ['jitter_1100_seed0', 'single_scale_1100_seed0',
                                   'single_scale_1100_seed1']
    prior = json.loads((tmp_path / 'out' / 'results.json').read_text())
    (tmp_path / 'out' / 'results.json').write_text(json.dumps(dict(prior, slices=dict(n=1))))
    res = cmp.run_compare(out, arms=['jitter_1100'], **dict(kw, seeds=(0,)))
    assert len(res['runs']) == 3  # nothing dropped by a smaller call
    assert res['slices'] == dict(n=1)  # nor SAHI's slices, which its epochs are counted in
    with pytest.raises(ValueError, match='minutes=25'):
        cmp.run_compare(out, arms=['jitter_1100'], **dict(kw, minutes=10))


@pytest.mark.slow
def test_sahi_arm_end_to_end_and_resume(tmp_path, monkeypatch):
    """SAHI's slices, its fine-tuning (calibrated, then trained), sahi's sliced prediction
    through its MMDetection wrapper, the size-band evaluation; then nothing runs again."""
    src = str(tmp_path / 'src')
    make_airbus_source(src)
    monkeypatch.chdir(tmp_path)
    for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        monkeypatch.setenv(k, '2')
    convert_airbus_aircraft(src, 'data/airbus_aircraft', num_val=1)
    # SAHI's own test, and one tools/test.py test way (its detections, the subset's files)
    monkeypatch.setattr(cmp, 'TESTS', {'sahi': cmp.TESTS['sahi'], 'single': cmp.TESTS['single']})
    monkeypatch.setattr(cmp, 'DEFAULT_TESTS', ('sahi', 'single'))
    kw = dict(arms=('sahi',), seeds=(0,), minutes=0.001, calib_iters=2, curve_points=1,
              source=src, pictures=0, echo=False, val_images=1,
              cfg_options=FAST + ['model.backbone.init_cfg=None',
                                  'train_dataloader.batch_size=2',
                                  # the single-scale test at the tiny image's size, not 2048
                                  'test_dataloader.dataset.pipeline.1.scale=(320,320)'])
    res = cmp.run_compare('work_dirs/ab', **kw)
    sl = res['slices']
    # a 320 x 320 image is one slice with SAHI's 512 px slices; its 4 aircraft in it
    assert sl['images'] == 1 and sl['boxes'] == 4
    with open(sl['ann_file']) as f:
        assert len(json.load(f)['images']) == 1
    r = res['runs']['sahi_seed0']
    assert r['clamped'] and r['iters'] == 1 and r['sec_per_iter_calibrated'] > 0
    t = r['tests']['sahi']
    assert 'sahi_predict.py' in t['command'] and t['sec_per_img'] > 0 and t['peak_rss_mb'] > 0
    assert {'AP', 'AP50', 'AP75', 'AP_<64', 'AP_64-128', 'AP_>128'} <= set(t['metrics'])
    assert t['metrics']['gt_<64'] == 4  # the val image's crosses: 40-55 px
    with open(t['detections']) as f:
        dets = json.load(f)
    assert all(d['category_id'] == 1 and d['image_id'] == 1 for d in dets)
    single = r['tests']['single']
    assert 'test_evaluator.outfile_prefix=' in single['command'] and 'val_first1.json' in \
        single['command']
    assert single['metrics']['gt_<64'] == 4 and single['sec_per_img'] > 0
    assert osp.isfile(single['detections'])
    assert 'first 1 validation images only' in open('work_dirs/ab/results.md').read()
    assert len(r['curve']) == 1 and r['curve'][0]['minutes'] > 0
    for name in ('results.json', 'results.md', 'results.png'):
        assert osp.getsize(osp.join('work_dirs', 'ab', name)) > 0, name

    # sahi's own low-threshold rule switched the comparison's merger to NMS / IOU; the
    # variant that forces GREEDYNMM keeps it (each its own sahi_predict.py process)
    log = open(osp.join('work_dirs', 'ab', 'sahi_seed0', 'test_sahi_iter1', 'test.out')).read()
    assert 'Switching postprocess type' in log
    monkeypatch.setattr(cmp, 'SAHI_VARIANTS', {
        'greedynmm_forced': cmp.SAHI_VARIANTS['greedynmm_forced']})
    table = cmp.sahi_variants(res, 'work_dirs/ab', echo=False,
                              val_ann=osp.abspath('work_dirs/ab/val_first1.json'))
    forced = osp.join('work_dirs', 'ab', 'sahi_seed0', 'test_sahi_greedynmm_forced')
    assert 'Switching postprocess type' not in open(osp.join(forced, 'test.out')).read()
    assert '--force-postprocess-type' in json.load(open(osp.join(forced, 'metrics.json')))[
        'command']
    assert table.count('\n') == 3 and 'force_postprocess_type' in table  # header + 2 rows
    assert open('work_dirs/ab/sahi_variants.md').read().strip() == table

    def boom(*args, **kwargs):
        raise AssertionError(f'a finished step ran again: {args[0]}')

    monkeypatch.setattr(exp, 'run_logged', boom)
    monkeypatch.setattr(cmp, 'run_logged', boom)
    again = cmp.run_compare('work_dirs/ab', **kw)
    assert again['runs']['sahi_seed0']['tests'] == r['tests']
    with pytest.raises(ValueError, match='val_images'):
        cmp.run_compare('work_dirs/ab', **dict(kw, val_images=None))


def test_holdout_split_and_training_option(tmp_path):
    """Choices made by looking at results use held-out training images: every box in
    exactly one part, the held-out images spread over the ids, the same split every time."""
    ann = tmp_path / 'train.json'
    images = [dict(id=i, file_name=f'{i}.jpg', width=10, height=10) for i in range(1, 11)]
    boxes = [dict(id=j, image_id=1 + j % 10, category_id=1, bbox=[0, 0, 2, 2], area=4,
                  iscrowd=0) for j in range(25)]
    ann.write_text(json.dumps(dict(images=images, annotations=boxes,
                                   categories=[dict(id=1, name='airplane')])))
    fit, held = cmp.holdout_split(str(ann), 3, str(tmp_path))
    f, h = (json.loads(open(p).read()) for p in (fit, held))
    assert [im['id'] for im in h['images']] == [1, 5, 10]  # first, middle, last id
    assert len(f['images']) == 7 and not {im['id'] for im in f['images']} & {1, 5, 10}
    ids = sorted(a['id'] for a in f['annotations'] + h['annotations'])
    assert ids == list(range(25))
    assert all(a['image_id'] in {1, 5, 10} for a in h['annotations'])
    assert cmp.holdout_split(str(ann), 3, str(tmp_path / 'again')) and json.loads(
        (tmp_path / 'again' / 'train_holdout.json').read_text()) == h
    for bad in (0, 10):
        with pytest.raises(ValueError, match='1 to 9 images'):
            cmp.holdout_split(str(ann), bad, str(tmp_path))
    # SNIPER's dataset wraps the COCO one; SAHI trains on its slices and cannot hold out
    assert cmp.train_ann_option('sniper', fit) == (
        f'train_dataloader.dataset.dataset.ann_file={fit}')
    assert cmp.train_ann_option('single_scale_880', fit) == (
        f'train_dataloader.dataset.ann_file={fit}')
    with pytest.raises(ValueError, match='sahi'):
        cmp.train_ann_option('sahi', fit)


def test_found_by_origin_counts_border_aircraft_as_coco_does():
    gt = _gt([[0, 0, 40, 40], [100, 100, 50, 50], [300, 300, 60, 60]])
    gt['annotations'][0]['origin'] = 'Truncated_airplane'
    for a in gt['annotations'][1:]:
        a['origin'] = 'Airplane'
    det = [dict(image_id=1, category_id=1, bbox=[0, 0, 40, 38], score=0.9),
           dict(image_id=1, category_id=1, bbox=[100, 100, 50, 50], score=0.2),
           dict(image_id=1, category_id=1, bbox=[101, 101, 50, 50], score=0.8)]  # a twin
    assert cmp.found_by_origin(gt, det) == {'Airplane': (1, 2), 'Truncated_airplane': (1, 1)}
    assert cmp.found_by_origin(gt, det, score_thr=0.85) == {
        'Airplane': (0, 2), 'Truncated_airplane': (1, 1)}
    # only the highest-scoring max_per_img per image count, as in COCO's AP
    assert cmp.found_by_origin(gt, det, max_per_img=1)['Airplane'] == (0, 2)


def test_border_table_has_a_row_per_seed(tmp_path):
    # seed 1's border counts differ from seed 0's: the table shows every seed, own test way
    gt = _gt([[0, 0, 40, 40], [100, 100, 50, 50]])
    gt['annotations'][0]['origin'] = 'Truncated_airplane'
    gt['annotations'][1]['origin'] = 'Airplane'
    gt_file = tmp_path / 'val.json'
    gt_file.write_text(json.dumps(gt))
    runs = {}
    for seed, score in ((0, 0.9), (1, 0.1)):
        det = tmp_path / f'det{seed}.json'
        det.write_text(json.dumps([dict(image_id=1, category_id=1, bbox=[0, 0, 40, 40],
                                        score=score)]))
        runs[f'sniper_seed{seed}'] = dict(arm='sniper', seed=seed,
                                          tests=dict(pyramid=dict(detections=str(det))))
    lines = cmp.border_table(dict(runs=runs, seeds=[0, 1]), str(gt_file)).splitlines()
    assert lines[2].split('|')[2:8] == [' 0 ', ' SNIPER ranged pyramid ', ' 1 / 1 ', ' 1 / 1 ',
                                        ' 0 / 1 ', ' 0 / 1 ']
    assert lines[3].split('|')[2:8] == [' 1 ', ' SNIPER ranged pyramid ', ' 0 / 1 ', ' 1 / 1 ',
                                        ' 0 / 1 ', ' 0 / 1 ']


def test_epochs_of_every_whole_image_arm_and_the_size_rule_claim():
    # 125 iterations of 2 over 78 images: 3.2 epochs, under the rule's 4 (the 25-minute
    # run's 1375 arm); chip arms have no epoch count
    res = dict(train_images=78, seeds=[0], runs={})
    for arm in cmp.WHOLE_IMAGE_ARMS:
        assert cmp.epochs(res, dict(arm=arm, iters=125, batch_size=2)) == pytest.approx(
            250 / 78)
    assert cmp.epochs(res, dict(arm='sniper', iters=125, batch_size=8)) is None
    res['runs']['single_scale_1375_seed0'] = dict(
        arm='single_scale_1375', seed=0, iters=125, batch_size=2,
        tests=dict(single_1375=dict(metrics=dict(AP=57.2))))
    assert '- single-scale (1375) trained 3.2 epochs, under the 4' in cmp.claims(res)


def _results_folder(tmp_path, name: str, **results) -> str:
    """An output folder holding only ``results.json`` with ``results``, as a driver call
    leaves it for :func:`compare.merge_results`."""
    d = tmp_path / name
    d.mkdir()
    (d / 'results.json').write_text(json.dumps(results))
    return str(d)


def test_merge_results_keeps_every_folders_runs_and_sahis_slices(tmp_path):
    # the SAHI run's epochs need its folder's slice count even when another folder comes
    # first; the same run key in two folders is refused, not overwritten
    def folder(name, runs, slices=None):
        return _results_folder(tmp_path, name, minutes=25.0, train_images=78, slices=slices,
                               runs=runs)

    sniper = folder('sniper', {'sniper_seed0': dict(arm='sniper', seed=0)})
    sahi = folder('sahi', {'sahi_seed0': dict(arm='sahi', seed=0, iters=243, batch_size=8)},
                  slices=dict(images=2808))
    res = cmp.merge_results([sniper, sahi])
    assert sorted(res['runs']) == ['sahi_seed0', 'sniper_seed0']
    assert cmp.epochs(res, res['runs']['sahi_seed0']) == pytest.approx(243 * 8 / 2808)
    again = folder('again', {'sniper_seed0': dict(arm='sniper', seed=0)})
    with pytest.raises(ValueError, match='sniper_seed0 is in both'):
        cmp.merge_results([sniper, again])


def test_tests_table_shows_a_later_seed_tested_every_way_by_its_own_call(tmp_path):
    # the eighth session's SNIPER seed 1 (its own --seeds 1 call, every test way) merged
    # after a seed-0 folder: its rows belong in the table; a later seed tested its own way
    # only stays out (results_table has it)
    def run(arm, seed, tests):
        m = dict(AP=60.0, AP50=90.0, AP75=70.0, AP_lt64=50.0)
        return dict(arm=arm, seed=seed,
                    tests={t: dict(metrics=m, sec_per_img=1.0, peak_mb=900) for t in tests})

    first = _results_folder(tmp_path, 'first', seeds=[0], runs={
        'single_scale_1100_seed0': run('single_scale_1100', 0, ['single_1100', 'pyramid']),
        'single_scale_1100_seed1': run('single_scale_1100', 1, ['single_1100'])})
    later = _results_folder(tmp_path, 'later', seeds=[1],
                            runs={'sniper_seed1': run('sniper', 1, ['pyramid', 'sahi'])})
    rows = cmp.tests_table(cmp.merge_results([first, later])).splitlines()[2:]
    assert [r.split(' | ')[:2] for r in rows] == [
        ['| single-scale (1100)', 'single scale (1100)'],
        ['| single-scale (1100)', 'SNIPER ranged pyramid'],
        ['| SNIPER chips', 'SNIPER ranged pyramid'],
        ['| SNIPER chips', 'SAHI sliced prediction (get_sliced_prediction)']]
