"""The demo (``tools/demo.py``) and the SNIPER-vs-baselines experiment, end to end, tiny.

Real tools in subprocesses on the 8-image ScaleShapes fixture, one or two iterations: the
point is the plumbing (commands, resumability, metrics.json, table, plot), not accuracy.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import runpy
import sys

import pytest

from conftest import FAST, REPO

sys.path.insert(0, osp.join(REPO, 'tools'))
from scaleshapes_runs import demo as demo_mod  # noqa: E402  (tools/, not the library)
from scaleshapes_runs import experiment as exp  # noqa: E402

METRIC_NAMES = {'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'}


@pytest.fixture
def two_threads(monkeypatch):
    # The tools run with 2 threads at most (the CI machine has 2 cores).
    for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        monkeypatch.setenv(k, '2')


def _forbid_subprocesses(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError(f'a finished step ran again: {args[0]}')

    monkeypatch.setattr(exp, 'run_logged', boom)
    monkeypatch.setattr(demo_mod, 'run_logged', boom)


@pytest.mark.slow
def test_demo_end_to_end_and_resume(workdir, monkeypatch, two_threads, capsys):
    monkeypatch.chdir(workdir)
    out = demo_mod.run_demo('work_dirs/demo', iters=2, rpn_iters=1, negatives=False,
                            num_chip_pictures=2, cfg_options=FAST)
    wd = osp.join(workdir, 'work_dirs', 'demo')
    with open(osp.join(wd, 'metrics.json')) as f:
        saved = json.load(f)
    assert saved['single_scale'] == out['single_scale']
    for key in ('single_scale', 'pyramid'):
        assert set(saved[key]) == METRIC_NAMES
        assert all(-100.0 <= v <= 100.0 for v in saved[key].values())
    assert saved['settings']['iters'] == 2 and saved['settings']['negatives'] is False
    assert osp.isfile(osp.join(wd, 'sniper', 'iter_2.pth'))
    chips = [f for f in os.listdir(osp.join(wd, 'chips')) if f.endswith('.png')]
    assert len(chips) == 2
    detections = [f for _, _, fs in os.walk(osp.join(wd, 'detections')) for f in fs
                  if f.endswith(('.jpg', '.png'))]
    assert len(detections) == 4  # the fixture's 4 validation images
    printed = capsys.readouterr().out
    assert 'pyramid' in printed and 'metrics.json' in printed

    # Resumable: a second run finds every step done and starts no tool.
    _forbid_subprocesses(monkeypatch)
    again = demo_mod.run_demo('work_dirs/demo', iters=2, rpn_iters=1, negatives=False,
                              num_chip_pictures=2, cfg_options=FAST)
    assert again['pyramid'] == out['pyramid']


@pytest.mark.slow
def test_experiment_end_to_end(workdir, monkeypatch, two_threads):
    # One arm (the full-pyramid config, which no other test trains); the SNIPER arm's
    # training and test tools run in the demo test above, the multi-arm report below.
    monkeypatch.chdir(workdir)
    res = exp.run_experiment('work_dirs/exp', iters=1, arms=('pyramid',), cfg_options=FAST,
                             echo=False)
    out = osp.join(workdir, 'work_dirs', 'exp')
    for name in ('results.json', 'results.md', 'results.png', 'commands.sh'):
        assert osp.getsize(osp.join(out, name)) > 0, name
    with open(osp.join(out, 'results.json')) as f:
        saved = json.load(f)
    assert list(saved['arms']) == ['pyramid']
    r = saved['arms']['pyramid']
    assert set(r['pyramid_eval']['metrics']) == METRIC_NAMES
    assert r['train_seconds'] > 0 and r['batch_size'] == 2
    # Evaluated with the SNIPER config's pyramid, trained with the fixed seed.
    assert '--tta' in r['pyramid_eval']['command']
    assert exp.EVAL_CONFIG in r['pyramid_eval']['command']
    assert 'randomness.seed=0' in r['train_command']
    # 2 images per iteration, each at one of the three scales: a third of the pyramid.
    px = saved['pixels']
    assert r['train_mpix_total'] == pytest.approx(2 * px['pyramid_mpix_per_image'] / 3)
    assert px['pyramid_mpix_per_image'] > px['single_scale_mpix_per_image'] > 0
    assert px['chip_mpix_per_image'] > 0
    assert res['table'].count('\n') == 2  # header, rule, one arm
    assert '| full image pyramid |' in res['table']
    with open(osp.join(out, 'results.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    # Resumable: nothing is trained or evaluated again.
    _forbid_subprocesses(monkeypatch)
    again = exp.run_experiment('work_dirs/exp', iters=1, arms=('pyramid',), cfg_options=FAST,
                               echo=False)
    assert again['arms']['pyramid']['pyramid_eval'] == r['pyramid_eval']


def test_plot_and_table_of_three_arms(tmp_path):
    def arm(ap, aps, mpx, secs):
        return dict(pyramid_eval=dict(metrics=dict(AP=ap, AP50=ap, APs=aps, APm=ap, APl=-1.0)),
                    train_mpix_total=mpx, train_seconds=secs, mpix_per_image_epoch=mpx / 100,
                    sec_per_iter=1.0)

    # Run order sniper, pyramid, single-scale: the table keeps the fixed order.
    res = dict(arms=dict(sniper=arm(3.0, 2.0, 60, 90), pyramid=arm(3.5, 1.0, 200, 300),
                         single_scale=arm(2.0, 0.5, 50, 60)), iters=10, seed=0)
    lines = exp.markdown_table(res).splitlines()
    assert [ln.split('|')[1].strip() for ln in lines[2:]] == [
        'single-scale', 'full image pyramid', 'SNIPER chips']
    assert lines[4].split('|')[6].strip() == 'n/a'  # APl -1: no such ground truth
    path = exp.plot_results(res, str(tmp_path / 'r.png'))
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_schedule_options_scale_with_iterations():
    opts = exp.schedule_options(1000, warmup=100)
    assert 'train_cfg.max_iters=1000' in opts
    assert 'param_scheduler.1.milestones=[760]' in opts
    assert 'param_scheduler.0.end=100' in opts
    assert 'val_cfg=None' in opts
    tiny = exp.schedule_options(2)
    assert 'param_scheduler.0.end=1' in tiny and 'param_scheduler.1.milestones=[1]' in tiny
    assert 'param_scheduler.0.end=25' in exp.schedule_options(100)  # a quarter at most
    with pytest.raises(ValueError, match='iters'):
        exp.schedule_options(0)


def test_arm_pixels_and_claim_summary():
    px = dict(single_scale_mpix_per_image=0.3, pyramid_mpix_per_image=1.5,
              chip_mpix_per_image=0.33, chip_size=256, num_scales=3)
    assert exp.arm_pixels('single_scale', px, 2, 10)['train_mpix_total'] == pytest.approx(6.0)
    assert exp.arm_pixels('pyramid', px, 2, 10)['train_mpix_total'] == pytest.approx(10.0)
    sn = exp.arm_pixels('sniper', px, 8, 10)
    assert sn['mpix_per_image_epoch'] == 0.33
    assert sn['train_mpix_total'] == pytest.approx(80 * 256 ** 2 / 1e6)
    # An epoch: 1 sample per image, every scale, every planned chip (0.33 Mpx / 256^2 each).
    assert exp.arm_pixels('single_scale', px, 2, 10)['samples_per_image_epoch'] == 1.0
    assert exp.arm_pixels('pyramid', px, 2, 10)['samples_per_image_epoch'] == 3.0
    assert sn['samples_per_image_epoch'] == pytest.approx(0.33e6 / 256 ** 2)
    # 100 images x 3 samples / batch 2 = 150 iterations of 0.8 s = 2 minutes.
    assert exp.epoch_minutes(dict(sec_per_iter=0.8, samples_per_image_epoch=3.0,
                                  batch_size=2), 100) == pytest.approx(2.0)
    assert exp.epoch_minutes(dict(sec_per_iter=None, samples_per_image_epoch=3.0,
                                  batch_size=2), 100) is None
    with pytest.raises(ValueError, match='arm'):
        exp.arm_pixels('chips', px, 2, 10)

    def arm(ap, aps, mpx, secs, per_img, samples, batch):
        return dict(pyramid_eval=dict(metrics=dict(AP=ap, AP50=ap, APs=aps, APm=ap, APl=ap)),
                    train_mpix_total=mpx, train_seconds=secs, mpix_per_image_epoch=per_img,
                    sec_per_iter=1.0, samples_per_image_epoch=samples, batch_size=batch)

    res = dict(arms=dict(single_scale=arm(10.0, 2.0, 50, 100, 0.3, 1, 2),
                         pyramid=arm(20.0, 8.0, 200, 400, 1.5, 3, 2),
                         sniper=arm(19.5, 9.0, 60, 150, 0.33, 6, 8)), iters=10, seed=0,
               pixels=dict(images=40))
    text = exp.claim_summary(res)
    assert '-0.5 points (within 1 point' in text
    assert 'SNIPER / full pyramid: 0.30x' in text  # 60 / 200
    assert 'APs, SNIPER - single-scale: +7.0 points' in text
    # Epochs: SNIPER 40 x 6 / 8 = 30 iterations, the pyramid 40 x 3 / 2 = 60, of 1 s each.
    assert 'time per epoch (estimated from s / iter), SNIPER / full pyramid: 0.50x' in text
    table = exp.markdown_table(res)
    assert '| full image pyramid | 20.0 | 20.0 | 8.0 |' in table
    assert table.splitlines()[3].endswith('| 1.00 | 1.00 |')  # s / iter, min / epoch
    assert exp.inference_table(res) == ''
    res['arms']['sniper']['single_scale_eval'] = dict(metrics=dict(
        AP=12.0, AP50=20.0, APs=3.0, APm=15.0, APl=-1.0))
    rows = exp.inference_table(res).splitlines()
    res['table'] = table
    md = exp.results_markdown(res)
    assert md.startswith(table + '\n\n' + text + '\n\nThe same checkpoints')
    assert md.endswith(exp.inference_table(res))
    assert rows[2:] == ['| SNIPER chips | single scale | 12.0 | 20.0 | 3.0 | 15.0 | n/a |',
                        '| SNIPER chips | pyramid | 19.5 | 19.5 | 9.0 | 19.5 | 19.5 |']
    # A one-stage detector's two arms: SNIPER against single-scale only, said either way.
    two = dict(arms=dict(single_scale=res['arms']['single_scale'], sniper=res['arms']['sniper']))
    text2 = exp.claim_summary(two)
    assert text2.splitlines() == ['- AP, SNIPER - single-scale: +9.5 points',
                                  '- APs, SNIPER - single-scale: +7.0 points']
    two['arms']['single_scale'] = arm(25.0, 2.0, 50, 100, 0.3, 1, 2)
    assert '-5.5 points (SNIPER does not help here)' in exp.claim_summary(two)


def test_progress_filter_keeps_progress_only():
    assert exp._show('11/26 15:35:05 - mmengine - INFO - Iter(train) [ 10/400]  lr: 2e-3')
    assert exp._show('[>>>>>>   ] 20/200, 2.0 task/s, elapsed: 10s, ETA: 90s')
    assert not exp._show('[>>>>>>   ] 21/200, 2.0 task/s, elapsed: 10s, ETA: 90s')
    assert not exp._show('        rpn_proposal=dict(')
    assert not exp._show('    proposals=None,')


def test_experiment_detectors_name_existing_configs_and_check_arms():
    for detector, arms in exp.DETECTORS.items():
        assert 'sniper' in arms and 'single_scale' in arms, detector
        for config in arms.values():
            assert osp.isfile(osp.join(REPO, config)), config
    with pytest.raises(ValueError, match="expected one of .*'fcos_mnv2'"):
        exp.run_experiment(detector='yolo9000')
    with pytest.raises(ValueError, match=r"among \['single_scale', 'sniper'\] \(detector "
                       r"retinanet_mnv2\)"):
        exp.run_experiment(detector='retinanet_mnv2', arms=['pyramid'])


def test_summary_says_what_the_numbers_mean_and_which_way_they_went():
    ap = dict(AP=20.0, AP50=30.0, AP75=20.0, APs=10.0, APm=25.0, APl=20.0)
    m = dict(single_scale=ap, pyramid=dict(ap, AP=27.5, APs=21.0),
             settings=dict(iters=300, negatives=True, seed=1, picture_score_thr=0.3),
             seconds=dict(total_this_run=600.0),
             outputs=dict(chips='/nowhere/chips', detections='/nowhere/det'))
    text = demo_mod.format_summary(m)
    assert 'the pyramid is +7.5 AP ahead of the single scale (+11.0 on small objects' in text
    assert 'score >= 0.3 right' in text and 'IoU' in text
    m['pyramid'] = dict(ap, AP=19.0)
    assert 'NOT ahead of the single scale (-1.0 AP)' in demo_mod.format_summary(m)


@pytest.mark.parametrize('tool, flag', [
    ('demo.py', '--iters'), ('analysis_tools/sniper_vs_baselines.py', '--iters'),
    ('analysis_tools/mask_vs_box.py', '--box-work-dir'),
    ('analysis_tools/equal_compute.py', '--minutes')])
def test_cli_help(tool, flag, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [tool, '--help'])
    monkeypatch.syspath_prepend(osp.join(REPO, 'tools'))  # as `python tools/X.py` would
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(osp.join(REPO, 'tools', tool), run_name='__main__')
    assert exc.value.code == 0
    assert flag in capsys.readouterr().out

