"""Two ranks (gloo, CPU): a SIGTERM that reaches only rank 1 stops both after the same
iteration; rank 0 writes the one checkpoint, which holds both ranks' resume states."""
from __future__ import annotations

import json
import os
import os.path as osp
import signal
import socket

import pytest
import torch.multiprocessing as mp

from conftest import REPO

SNIPER_TINY = osp.join(REPO, 'configs', 'scaleshapes', 'sniper_faster_r18_scaleshapes.py')


def _rank_main(rank: int, port: int, root: str, wd: str, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(OMP_NUM_THREADS='1')
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2)
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.registry import RUNNERS

    import mmsniper  # noqa: F401

    class SignalRank1(Hook):
        priority = 'HIGHEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if rank == 1 and runner.iter + 1 == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    cfg = Config.fromfile(SNIPER_TINY)
    cfg.work_dir = wd
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    cfg.train_dataloader.update(batch_size=1, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.dataset.update(data_root=root + '/', indices=[7])
    cfg.train_cfg.update(max_iters=4, val_interval=1000000)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint.interval = 100
    runner = RUNNERS.build(cfg)
    runner.register_hook(SignalRank1())
    code = None
    try:
        runner.train()
    except SystemExit as e:
        code = e.code
    with open(osp.join(out, f'rank{rank}.json'), 'w') as f:
        json.dump(dict(code=code, iter=runner.iter), f)
    dist.destroy_process_group()
    # gloo can abort a rank during interpreter finalization (see the chip-sharding test in
    # tests/tools/test_sniper_training.py); everything this rank reports is written
    os._exit(0)


@pytest.mark.slow
def test_signal_on_one_rank_stops_all_ranks_at_the_same_iteration(workdir):
    from mmsniper.engine.checkpoint import safe_load

    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    root = osp.join(workdir, 'data', 'scaleshapes')
    wd, out = osp.join(workdir, 'wd'), osp.join(workdir, 'out')
    os.makedirs(out)
    mp.spawn(_rank_main, args=(port, root, wd, out), nprocs=2, join=True)
    ranks = [json.load(open(osp.join(out, f'rank{r}.json'))) for r in range(2)]
    assert ranks == [dict(code=75, iter=2), dict(code=75, iter=2)], ranks
    assert sorted(n for n in os.listdir(wd) if n.endswith('.pth')) == ['iter_2.pth']
    assert open(osp.join(wd, 'last_checkpoint')).read() == osp.join(wd, 'iter_2.pth')
    state = safe_load(osp.join(wd, 'iter_2.pth'))['resume_state']
    assert state['world_size'] == 2 and len(state['ranks']) == 2
    # each rank's own sampler position (its shard) and random states
    assert [r['ChipSamplerHook']['iter'] for r in state['ranks']] == [2, 2]
    assert not (state['ranks'][0]['rng']['torch'] == state['ranks'][1]['rng']['torch']).all() \
        or state['ranks'][0]['ChipSamplerHook'] != state['ranks'][1]['ChipSamplerHook']
