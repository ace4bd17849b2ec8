"""The equal-compute experiment (tools/analysis_tools/equal_compute.py): its arms' configs,
its accounting (budget, minutes, pixels, equal-AP reading), and one arm end to end, tiny."""
from __future__ import annotations

import json
import os.path as osp
import sys

import pytest

from conftest import FAST, REPO

sys.path.insert(0, osp.join(REPO, 'tools'))
from scaleshapes_runs import equal_compute as ec  # noqa: E402  (tools/, not the library)
from scaleshapes_runs import experiment as exp  # noqa: E402


def test_every_arm_and_test_config_exists_and_trains_one_architecture():
    from mmengine.config import Config

    from mmsniper.engine.sniper_settings import apply_sniper_settings

    models = set()
    for path in {a.config for a in ec.ARMS.values()} | {t[0] for t in ec.TESTS.values()}:
        cfg = apply_sniper_settings(Config.fromfile(osp.join(REPO, path)), path)
        m = cfg.model
        models.add((m.backbone.type, m.backbone.frozen_stages, tuple(m.neck.in_channels),
                    m.neck.out_channels, m.roi_head.bbox_head.fc_out_channels,
                    repr(m.test_cfg)))
    # one detector, tested with one model test_cfg, whatever trains or tests it
    assert len(models) == 1, models
    snip = apply_sniper_settings(Config.fromfile(osp.join(REPO, ec.ARMS['snip'].config)))
    step = snip.train_dataloader.dataset.pipeline[2]
    assert step.type == 'SnipResize' and step.scales == snip.sniper.scales
    assert step.train_ranges == snip.sniper.train_ranges
    assert snip.train_dataloader.sampler.type == 'DefaultSampler'
    jitter = Config.fromfile(osp.join(REPO, ec.ARMS['jitter'].config))
    assert jitter.tta_model.type == 'DetTTAModel'
    assert [s[1] for s in jitter.train_dataloader.dataset.pipeline[2].scales] == \
        [s for s, _ in ec._JITTER]


@pytest.mark.parametrize('arm', ['single_scale', 'jitter', 'pyramid', 'snip'])
def test_arm_training_samples_have_the_accounted_sizes(arm, scaleshapes_root):
    """One sample through each whole-image arm's real pipeline: its size is one the pixel
    accounting (``sample_mpix``) averages over."""
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmsniper.chips import scale_factor, scaled_image_size
    from mmsniper.engine.sniper_settings import apply_sniper_settings

    init_default_scope('mmdet')
    cfg = apply_sniper_settings(Config.fromfile(osp.join(REPO, ec.ARMS[arm].config)))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = scaleshapes_root + '/'
    ds = DATASETS.build(ds_cfg)
    scales = {'single_scale': ec._SINGLE, 'jitter': ec._JITTER}.get(arm, ec._PYRAMID)
    for i in range(3):
        info = ds.get_data_info(i)
        wh = (info['width'], info['height'])
        allowed = {scaled_image_size(wh, scale_factor(wh, s))[::-1] for s in scales}
        shape = tuple(ds[i]['inputs'].shape[1:])
        assert any(abs(shape[0] - h) <= 1 and abs(shape[1] - w) <= 1 for h, w in allowed), \
            (arm, shape, allowed)


def test_accounting_budget_minutes_and_pixels(tmp_path):
    sizes = [(640, 480), (600, 600)]
    px = {a: ec.sample_mpix(a, sizes) for a in ec.ARMS}
    assert px['sniper'] == px['sniper_neg'] == pytest.approx(256 ** 2 / 1e6)
    assert px['pyramid'] == px['snip'] > px['single_scale'] > px['jitter'] > 0
    # 640x480 at (480, 800): as is; 600x600: 480x480
    assert px['single_scale'] == pytest.approx((640 * 480 + 480 * 480) / 2e6)
    assert ec.curve_iterations(10, 4) == [3, 6, 9, 10]
    assert ec.curve_iterations(8, 4) == [2, 4, 6, 8]
    assert ec.curve_iterations(1, 4) == [1]
    # logged iteration times: 10 iterations at 2 s, then 10 at 1 s; a resumed log repeats
    # iteration 20 and the newest wins
    wd = tmp_path / 'run'
    for stamp, recs in (('a', [(10, 2.0), (20, 5.0)]), ('b', [(20, 1.0)])):
        d = wd / stamp / 'vis_data'
        d.mkdir(parents=True)
        (d / 'scalars.json').write_text(''.join(
            json.dumps(dict(iter=i, time=t, loss=1.0)) + '\n' for i, t in recs))
        if stamp == 'a':
            import os
            os.utime(d / 'scalars.json', (1, 1))
    assert exp.logged_iter_times(str(wd)) == [(10, 2.0), (20, 1.0)]
    assert ec.minutes_at(str(wd), 20, fixed_seconds=30) == pytest.approx((20 + 10 + 30) / 60)
    assert ec.minutes_at(str(wd), 10) == pytest.approx(20 / 60)
    assert ec.calibrated_sec_per_iter(str(wd)) == pytest.approx(1.0)  # first window out


def _run(arm, seed, iters, curve, tests):
    return dict(arm=arm, seed=seed, iters=iters, minutes=curve[-1][0], fixed_seconds=0.0,
                train_wall_seconds=curve[-1][0] * 60 + 30, batch_size=2, train_mpix=100.0,
                curve=[dict(iter=i, minutes=m, metrics=dict(AP=ap)) for i, (m, ap) in
                       enumerate(curve, 1)],
                tests={k: dict(metrics=dict(AP=v, APs=v - 1, APm=v, APl=-1.0), sec_per_img=0.5)
                       for k, v in tests.items()})


def test_equal_ap_reading_claims_table_and_plot(tmp_path):
    curve = [dict(minutes=5.0, metrics=dict(AP=10.0)), dict(minutes=10.0, metrics=dict(AP=20.0))]
    assert ec.minutes_to_reach(curve, 15.0) == pytest.approx(7.5)
    assert ec.minutes_to_reach(curve, 4.0) == pytest.approx(2.0)  # from (0 min, 0 AP)
    assert ec.minutes_to_reach(curve, 25.0) is None
    res = dict(minutes=10.0, pixels={a: 0.1 for a in ec.ARMS}, runs={
        'sniper_seed0': _run('sniper', 0, 100, [(5, 20.0), (10, 30.0)],
                             dict(pyramid=30.0, single=25.0, dettta=27.0)),
        'sniper_seed1': _run('sniper', 1, 100, [(5, 18.0), (10, 28.0)], dict(pyramid=28.0)),
        'jitter_seed0': _run('jitter', 0, 80, [(5, 15.0), (10, 20.0)],
                             dict(pyramid=20.0, single=19.0, dettta=22.0)),
        'jitter_seed1': _run('jitter', 1, 80, [(5, 14.0), (10, 24.0)],
                             dict(pyramid=24.0, dettta=23.0)),
    })
    text = ec.claims(res)
    assert 'SNIPER, ranged pyramid: 29.0 AP (mean of 2 seeds)' in text
    # equal minutes: 29.0 against jitter's DetTTA (22 + 23) / 2 and its pyramid (20 + 24) / 2,
    # with the seed-by-seed differences (30 - 22, 28 - 23; 30 - 20, 28 - 24)
    assert ('tested with MMDetection DetTTAModel (3 scales x flip): +6.5 AP '
            '(22.5, mean of 2 seeds; per seed: +8.0, +5.0)') in text
    assert '+7.0 AP (22.0, mean of 2 seeds; per seed: +10.0, +4.0)' in text
    # equal AP, seed by seed: jitter's 20.0 reached by SNIPER seed 0 at 5 of its 10 minutes;
    # jitter seed 1's 24.0 by SNIPER seed 1 at 5 + 6 / 10 * 5 = 8.0 minutes
    assert "(seed 0, ranged pyramid): SNIPER reached MMDetection multi-scale jitter's final " \
        "20.0 AP after 5.0" in text
    assert "(seed 1, ranged pyramid): SNIPER reached MMDetection multi-scale jitter's final " \
        "24.0 AP after 8.0 of its 10.0 minutes (0.80x" in text
    assert 'SNIP' not in text.replace('SNIPER', '')  # no SNIP arm ran: no SNIP claim
    table = ec.results_table(res).splitlines()
    assert [r.split('|')[1].strip() for r in table[2:]] == [
        'MMDetection multi-scale jitter', 'MMDetection multi-scale jitter', 'SNIPER chips',
        'SNIPER chips']
    inference = ec.inference_table(res)
    assert inference.count('\n') == 3  # header, rule, two seed-0 arms
    assert '| SNIPER chips | 25.0 / 24.0 / 0.50 | 27.0 / 26.0 / 0.50 | 30.0 / 29.0 / 0.50 |' \
        in inference
    path = ec.plot_curves(res, str(tmp_path / 'c.png'))
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_bad_arguments_are_errors():
    with pytest.raises(ValueError, match='arms'):
        ec.run_equal_compute('x', arms=['nope'])
    with pytest.raises(ValueError, match='minutes'):
        ec.run_equal_compute('x', arms=['snip'], minutes=0)


@pytest.mark.slow
def test_snip_arm_end_to_end_and_resume(workdir, monkeypatch):
    """SNIP (the new arm) calibrated, trained, tested with the ranged pyramid; resumable."""
    monkeypatch.chdir(workdir)
    for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        monkeypatch.setenv(k, '2')
    # the final test: the ranged pyramid (DetTTAModel runs in process above; the single-scale
    # test config is the plain one every single-scale test in the suite runs)
    monkeypatch.setattr(ec, 'TESTS', {'pyramid': ec.TESTS['pyramid']})
    kw = dict(arms=('snip',), second_seed=(), minutes=0.001, calib_iters=2, curve_points=1,
              cfg_options=FAST + ['train_dataloader.batch_size=1'], echo=False)
    res = ec.run_equal_compute('work_dirs/ec', **kw)
    r = res['runs']['snip_seed0']
    assert r['clamped'] and r['iters'] == 1  # a budget under one iteration: clamped, said
    assert r['sec_per_iter_calibrated'] > 0
    assert set(r['tests']) == {'pyramid'}
    for t in r['tests'].values():
        assert -100.0 <= t['metrics']['AP'] <= 100.0 and t['sec_per_img'] > 0
    assert '--tta' in r['tests']['pyramid']['command']
    assert len(r['curve']) == 1 and r['curve'][0]['minutes'] > 0
    assert r['train_mpix'] == pytest.approx(res['pixels']['snip'])
    out = osp.join(workdir, 'work_dirs', 'ec')
    for name in ('results.json', 'results.md', 'results.png'):
        assert osp.getsize(osp.join(out, name)) > 0, name

    def boom(*args, **kwargs):
        raise AssertionError(f'a finished step ran again: {args[0]}')

    monkeypatch.setattr(exp, 'run_logged', boom)
    again = ec.run_equal_compute('work_dirs/ec', **kw)
    assert again['runs']['snip_seed0']['tests'] == r['tests']


def test_mmdetection_tta_config_runs_on_the_light_detector(scaleshapes_root):
    """The jitter arm's natural test, in process: MMDetection's DetTTAModel over its six views
    (3 scales x flip) of one image, merged into one result in the ORIGINAL frame."""
    from mmdet.registry import DATASETS, MODELS
    from mmengine.config import Config, ConfigDict
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, ec.TESTS['dettta'][0]))
    model_cfg = ConfigDict(**cfg.tta_model, module=cfg.model)
    model_cfg.module.backbone.init_cfg = None  # random weights: plumbing, not accuracy
    model = MODELS.build(model_cfg).eval()
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.update(data_root=scaleshapes_root + '/', pipeline=cfg.tta_pipeline)
    data = DATASETS.build(ds_cfg)[0]
    views = data['data_samples']
    assert len(views) == 6 and sorted({v.flip for v in views}) == [False, True]
    assert sorted({v.img_shape[0] for v in views}) == [240, 480, 720]
    import torch
    with torch.no_grad():
        out = model.test_step(pseudo_collate([data]))
    assert len(out) == 1
    h, w = out[0].ori_shape
    boxes = out[0].pred_instances.bboxes
    assert len(boxes) <= 100
    if len(boxes):
        assert float(boxes[:, 2].max()) <= w + 1 and float(boxes[:, 3].max()) <= h + 1


def test_every_arm_gets_its_own_colour():
    # the Airbus plot has nine arms; the first palette had eight (a KeyError at plot time)
    arms = [f'arm{i}' for i in range(12)]
    colours = ec.arm_colours(arms)
    assert list(colours) == arms
    assert len({str(c) for c in colours.values()}) == 12
    with pytest.raises(ValueError, match='at most 18 arms'):
        ec.arm_colours([f'arm{i}' for i in range(19)])
