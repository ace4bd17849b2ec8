"""The foundation: package, registration, real training / resume / testing, mim, configs."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import BIN, FAST, REPO, run_tool, tool

TINY = osp.join(REPO, 'configs', 'scaleshapes', 'faster_r18_scaleshapes.py')


def test_import_is_cheap_and_registers():
    code = ('import sys, mmsniper; from mmdet.registry import TRANSFORMS, DATA_SAMPLERS, '
            'DATASETS, TASK_UTILS, MODELS, HOOKS;'
            "assert TRANSFORMS.get('ChipGenerator') and TRANSFORMS.get('PyramidResize');"
            "from mmengine.registry import RUNNERS; assert RUNNERS.get('SniperRunner');"
            "assert DATA_SAMPLERS.get('ChipSampler') and DATASETS.get('SniperDataset');"
            "assert TASK_UTILS.get('SniperMaxIoUAssigner') and MODELS.get('SniperRoIHead');"
            "assert HOOKS.get('ChipSamplerHook');"
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr
    # Importing mmsniper must not drag in heavy optional stacks.
    assert out.stdout.strip() == 'False'


def test_chip_engine_imports_without_the_stack():
    """A fresh interpreter, the real package: ``import mmsniper.chips`` (and the other
    framework-free rooms) loads no MMDetection, mmengine, mmcv or torch; the adapters are
    registered as soon as MMDetection is imported afterwards."""
    code = textwrap.dedent("""
        import sys
        import mmsniper.chips
        import mmsniper.annotations, mmsniper.imagefiles, mmsniper.advisor, mmsniper.generated
        bad = [m for m in ('torch', 'mmdet', 'mmcv', 'mmengine') if m in sys.modules]
        assert not bad, bad
        from mmdet.registry import TRANSFORMS
        from mmengine.registry import RUNNERS
        assert TRANSFORMS.get('ChipGenerator') and RUNNERS.get('SniperRunner')
        print('ok')
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['ok']


def test_config_outside_repo_builds_mmsniper_classes(tmp_path):
    from mmdet.registry import TRANSFORMS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg_file = tmp_path / 'my_project_cfg.py'
    cfg_file.write_text(textwrap.dedent("""
        custom_imports = dict(imports=['mmsniper'], allow_failed_imports=False)
        default_scope = 'mmdet'
        pipeline = [dict(type='ChipGenerator', scales=[1.0], train_ranges=[(-1, -1)],
                         chip_size=64, stride=8),
                    dict(type='PyramidResize', scale=1.0, level=0)]
    """))
    cfg = Config.fromfile(str(cfg_file))
    init_default_scope('mmdet')
    built = [TRANSFORMS.build(t) for t in cfg.pipeline]
    assert [type(t).__name__ for t in built] == ['ChipGenerator', 'PyramidResize']


def test_weights_only_checkpoint_load_needs_and_gets_the_fix(tmp_path):
    from mmengine.logging import HistoryBuffer

    ckpt = tmp_path / 'ckpt.pth'
    buf = HistoryBuffer()
    buf.update(1.5)
    import numpy as np
    torch.save({'message_hub': {'log_scalars': {'loss': buf}}, 'np': np.float64(2.0)}, ckpt)
    # Without mmsniper, torch's default weights_only=True loader refuses the checkpoint.
    plain = subprocess.run([sys.executable, '-c', f'import torch; torch.load({str(ckpt)!r})'],
                           capture_output=True, text=True)
    assert plain.returncode != 0 and 'weights_only' in plain.stderr
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmsniper  # noqa: F401

    # mmengine's loader (what --resume and load_from use) now reads it, still weights_only:
    loaded = _load_checkpoint(str(ckpt), map_location='cpu')
    assert loaded['message_hub']['log_scalars']['loss'].current() == 1.5
    # ... and nothing was allowed process-wide: plain torch.load still refuses.
    with pytest.raises(Exception, match='weights_only|Weights only'):
        torch.load(ckpt)


@pytest.mark.slow
def test_train_resume_and_test_through_the_tools(workdir):
    wd = osp.join(workdir, 'work')
    common = ['--work-dir', wd, '--cfg-options', *FAST,
              'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1']
    run_tool(tool('train.py') + [TINY] + common + ['train_cfg.max_iters=2'], cwd=workdir)
    assert osp.isfile(osp.join(wd, 'iter_2.pth'))
    # Resume from the latest checkpoint and train one more iteration, for real.
    out = run_tool(tool('train.py') + [TINY, '--resume'] + common + ['train_cfg.max_iters=3',
                                                                      'default_hooks.checkpoint.interval=1'],
                   cwd=workdir)
    log = out.stdout + out.stderr
    assert 'resumed epoch: 0, iter: 2' in log.lower() or 'Load checkpoint from' in log
    assert 'Iter(train) [3/3]' in log
    assert osp.isfile(osp.join(wd, 'iter_3.pth'))
    from mmengine.runner.checkpoint import _load_checkpoint

    import mmsniper  # noqa: F401  (mmengine's loader, weights_only with mmengine's types)
    ck = _load_checkpoint(osp.join(wd, 'iter_3.pth'), map_location='cpu')
    assert ck['meta']['iter'] == 3
    # Evaluate with CocoMetric on the val split.
    res = run_tool(tool('test.py') + [TINY, osp.join(wd, 'iter_3.pth'), '--work-dir', wd,
                                      '--cfg-options', *FAST], cwd=workdir)
    assert 'coco/bbox_mAP' in res.stdout + res.stderr


@pytest.mark.slow
def test_mim_train_from_outside_the_checkout(workdir):
    """`mim train mmsniper CONFIG` finds the installed package's .mim tools and configs."""
    mim = osp.join(BIN, 'mim')
    assert osp.isfile(mim), 'openmim is not installed in this environment (make setup)'
    wd = osp.join(workdir, 'mim_work')
    run_tool([mim, 'train', 'mmsniper', 'faster_r18_scaleshapes.py', '--work-dir', wd,
              '--cfg-options', 'train_cfg.max_iters=1', 'default_hooks.logger.interval=1',
              *FAST], cwd=workdir)
    assert glob.glob(osp.join(wd, '*', 'vis_data', 'scalars.json')) or \
        glob.glob(osp.join(wd, '*', '*.log'))
    logs = glob.glob(osp.join(wd, '*', '*.log'))
    assert logs and 'Iter(train) [1/1]' in open(logs[0]).read()
    # `mim test mmsniper CONFIG --checkpoint ...` evaluates that checkpoint with CocoMetric.
    ckpt = osp.join(wd, 'iter_1.pth')
    assert osp.isfile(ckpt)
    out = run_tool([mim, 'test', 'mmsniper', 'faster_r18_scaleshapes.py', '--checkpoint', ckpt,
                    '--work-dir', wd, '--cfg-options', *FAST], cwd=workdir)
    assert 'coco/bbox_mAP' in out.stdout + out.stderr


def test_installed_package_has_mim_folder():
    import importlib.util
    spec = importlib.util.find_spec('mmsniper')
    assert spec is not None
    # From the checkout the package is the checkout's; the installed copy (site-packages)
    # is what mim uses: it must carry .mim/tools/train.py and .mim/configs.
    site = [p for p in sys.path if p.endswith('site-packages')]
    found = [osp.join(s, 'mmsniper', '.mim') for s in site
             if osp.isdir(osp.join(s, 'mmsniper', '.mim'))]
    assert found, 'mmsniper is not installed non-editably (make setup runs `pip install .`)'
    assert osp.isfile(osp.join(found[0], 'tools', 'train.py'))
    assert osp.isfile(osp.join(found[0], 'configs', 'sniper_faster_r101.py'))


def test_dist_scripts_exist_and_use_torchrun():
    for name in ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh'):
        path = osp.join(REPO, 'tools', name)
        assert os.access(path, os.X_OK), name
    assert 'torch.distributed.run' in open(osp.join(REPO, 'tools', 'dist_train.sh')).read()


def test_config_dump_is_json_friendly(tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(TINY)
    assert cfg.model.backbone.depth == 18 and cfg.model.backbone.init_cfg is None
    assert cfg.val_evaluator.type == 'CocoMetric'
    json.dumps(cfg.to_dict(), default=str)


def test_tools_put_the_checkout_first():
    """Every tool that imports mmsniper at module level imports _bootstrap before it, so
    `python tools/X.py` runs the checkout's code, not an older installed copy."""
    import glob as _glob
    for path in _glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True):
        lines = open(path).read().splitlines()
        boot = [i for i, t in enumerate(lines) if t.startswith('import _bootstrap')]
        uses = [i for i, t in enumerate(lines)
                if t.startswith(('from mmsniper', 'import mmsniper'))]
        if uses:
            assert boot and boot[0] < uses[0], path
