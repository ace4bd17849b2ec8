"""Kill a training many times (SIGTERM / SIGKILL), resume it each time, and compare it with an
uninterrupted run; see ``--help``."""
import argparse
import datetime
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

# isort: split
from mmsniper.analysis.kill_resume import DEFAULT_CONFIG, kill_resume, plan_kills  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(
        description='Fault injection on a tiny CPU training (default: SNIPER Faster R-CNN on '
        'a generated 8-image ScaleShapes set). Runs it once uninterrupted, then again with '
        '--kills kills at random iterations (half SIGTERM, half SIGKILL), each followed by '
        'tools/train.py --resume, and reports per kill the iterations lost (SIGTERM: 0 '
        'expected; SIGKILL: at most the checkpoint interval) and whether the chips match the '
        'uninterrupted run\'s, and at the end whether the final weights and optimizer state '
        'are bit-identical. Exit status 1 when any of these fails.')
    p.add_argument('--work-dir', default='work_dirs/kill_resume', help='output folder')
    p.add_argument('--kills', type=int, default=20, help='number of kills')
    p.add_argument('--iters', type=int, default=48, help='training iterations')
    p.add_argument('--interval', type=int, default=4, help='checkpoint interval')
    p.add_argument('--config', default=DEFAULT_CONFIG, help='training config')
    p.add_argument('--data-root', help='ScaleShapes root (default: generate 8 train + 4 val '
                   'images in WORK_DIR/data)')
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--max-delay', type=float, default=1.0,
                   help='the signal lands up to this many seconds after its iteration started')
    p.add_argument('--seed', type=int, default=0, help='seed of the kill plan and delays')
    a = p.parse_args()

    os.makedirs(a.work_dir, exist_ok=True)
    data_root = a.data_root
    if data_root is None:
        from mmsniper.datasets.scaleshapes import make_scaleshapes

        data_root = osp.abspath(osp.join(a.work_dir, 'data'))
        if not osp.isfile(osp.join(data_root, 'annotations', 'val.json')):
            make_scaleshapes(data_root, splits={'train': 8, 'val': 4}, seed=0)
    kills = plan_kills(a.kills, a.iters, a.interval, seed=a.seed)
    t0 = time.time()
    report = kill_resume(a.work_dir, iters=a.iters, interval=a.interval, kills=kills,
                         config=a.config, data_root=data_root, batch_size=a.batch_size,
                         max_delay=a.max_delay, rng_seed=a.seed)
    report.update(command=' '.join(['python'] + sys.argv), wall_s=round(time.time() - t0),
                  date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))
    with open(osp.join(a.work_dir, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    print('\n| # | signal | at iteration | exit | resumed from | lost | chips equal |')
    print('|---|---|---|---|---|---|---|')
    for i, k in enumerate(report['kills'], 1):
        print(f'| {i} | {k["signal"]} | {k["reached"]} | {k["status"]} | '
              f'{k.get("resumed_from")} | {k.get("lost")} | {k["chips_equal"]} |')
    term = [k['lost'] for k in report['kills'] if k['signal'] == 'SIGTERM' and 'lost' in k]
    kill = [k['lost'] for k in report['kills'] if k['signal'] == 'SIGKILL' and 'lost' in k]
    ok = (all(v == 0 for v in term) and all(v <= a.interval for v in kill)
          and report['chips_equal'] and report['weights_equal'] and report['optimizer_equal']
          and all(k['status'] == 75 for k in report['kills'] if k['signal'] == 'SIGTERM'))
    print(f'\nSIGTERM: {len(term)} kills, iterations lost {term}; SIGKILL: {len(kill)} kills, '
          f'lost {kill} (interval {a.interval}); chip streams equal: {report["chips_equal"]}; '
          f'final weights bit-identical: {report["weights_equal"]} (largest difference '
          f'{report["max_weight_diff"]}), optimizer state: {report["optimizer_equal"]}; '
          f'{report["iterations_trained"]} iterations trained for {a.iters}; wall time '
          f'{report["wall_s"]} s; {report["date"]}. Report: {osp.join(a.work_dir, "report.json")}')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
