"""Speed and memory of SNIPER inference (SniperTTAModel) against MMDetection's DetTTAModel.

    python tools/analysis_tools/benchmark_inference.py [CONFIG] [CHECKPOINT] [--images 3]
        [--chip-image 8000] [--device cpu] [--out results.json]

Three arms, each in its own process (so each peak resident memory is its own):

- ``sniper``: SniperTTAModel (per-level test ranges + the reference Gaussian Soft-NMS) over
  the reference pyramid (1400, 2000), (800, 1280), (480, 512) of COCO-sized images;
- ``dettta``: mmdet's DetTTAModel (plain NMS 0.5) over exactly the same views;
- ``chips``: SniperTTAModel on one ``--chip-image`` square image at factor scales
  ``--chip-scales`` (default 1, 0.5, 0.25), levels above ``--max-pixels`` as chip grids.

Reported per arm: seconds per image (model only, and the data pipeline), the share of the
model's time spent outside the detector's forward passes (``module.test_step``: data
preprocessor, backbone, heads and the detector's own per-view NMS) and of it the time in
``merge_preds`` (ranges, unflip, merger), peak RSS of the process (and peak CUDA memory on
a GPU). Without CHECKPOINT the model is randomly
initialised: timings hold, detections are meaningless. The CONFIG's ``model`` is used
(default: the small CPU model of configs/scaleshapes/faster_r18_scaleshapes.py).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'scaleshapes', 'faster_r18_scaleshapes.py')


def _images(n: int) -> list:
    """COCO-sized ScaleShapes pictures (long side 640)."""
    from mmsniper.generated.scaleshapes import render_scaleshapes_image

    return [render_scaleshapes_image(0, 'bench', i, large_image_share=0.0).image[:, :, ::-1]
            .copy() for i in range(n)]


def _big_image(side: int):
    """A ``side x side`` image tiled from ScaleShapes pictures (objects of all sizes)."""
    from mmsniper.analysis.benchmark_sliced import tiled_test_image

    return tiled_test_image(side)


def _pipeline(scales, max_pixels):
    """The test pyramid over ``scales`` with the reference test ranges (one per scale)."""
    from mmengine.dataset import Compose

    from mmsniper.chips import SniperSettings
    from mmsniper.datasets import PYRAMID_META_KEYS

    ranges = SniperSettings().test_ranges  # the reference's
    if len(scales) != len(ranges):
        raise ValueError(f'expected {len(ranges)} scales (one per reference test range), '
                         f'got {list(scales)}')

    return Compose([
        dict(type='mmdet.LoadImageFromNDArray'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='PyramidResize', scale=s, level=i, test_range=r, max_pixels=max_pixels)
             for i, (s, r) in enumerate(zip(scales, ranges))],
            [dict(type='RandomFlip', prob=0.)],
            [dict(type='PackDetInputs', meta_keys=PYRAMID_META_KEYS)]])])


def run_arm(args) -> dict:
    """One arm in this process; returns its measurements."""
    import torch
    from mmengine.config import Config, ConfigDict
    from mmengine.dataset import pseudo_collate
    from mmengine.logging import MMLogger
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    import mmsniper  # noqa: F401
    from mmsniper.analysis.benchmark import peak_rss_mb
    from mmsniper.chips import SniperSettings

    torch.set_num_threads(args.threads)
    MMLogger.get_instance('benchmark_inference', log_level='WARNING')  # quiet init logs
    init_default_scope('mmdet')
    cfg = Config.fromfile(args.config)
    model_cfg = cfg.model
    if isinstance(model_cfg.get('backbone'), dict):
        model_cfg.backbone.init_cfg = None
    torch.manual_seed(0)
    det = MODELS.build(model_cfg)
    if args.checkpoint:
        load_checkpoint(det, args.checkpoint, map_location='cpu')
    else:
        det.init_weights()
    forward = dict(t=0.0, merge=0.0)
    test_step = det.test_step

    def timed(data):
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = test_step(data)
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        forward['t'] += time.perf_counter() - t0
        return out

    det.test_step = timed
    if args.arm == 'dettta':
        model = MODELS.build(dict(type='DetTTAModel', module=det, tta_cfg=ConfigDict(
            nms=dict(type='nms', iou_threshold=0.5), max_per_img=200)))
    else:
        model = MODELS.build(dict(
            type='SniperTTAModel', module=det, max_per_img=200,
            merger=dict(type='SoftNMSMerger', method='gaussian', sigma=0.55, min_score=1e-3),
            chip_cfg=dict(chip_size=args.chip_size, batch_size=args.chip_batch)))
    model.to(args.device).eval()
    merge_preds = model.merge_preds

    def timed_merge(samples):
        t0 = time.perf_counter()
        out = merge_preds(samples)
        forward['merge'] += time.perf_counter() - t0
        return out

    model.merge_preds = timed_merge
    if args.arm == 'chips':
        images = [_big_image(args.chip_image)]
        pipeline = _pipeline(args.chip_scales, args.max_pixels)
        warmup = 0
    else:
        images = _images(args.images + 1)
        pipeline = _pipeline(SniperSettings().test_scales, None)
        warmup = 1  # first image: one-off kernel set-up, not timed
    rss_before = peak_rss_mb()
    if args.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    t_model = t_data = 0.0
    n_dets = 0
    for i, img in enumerate(images):
        t0 = time.perf_counter()
        data = pseudo_collate([pipeline(dict(img=img, img_id=i))])
        t1 = time.perf_counter()
        if i == warmup:
            forward.update(t=0.0, merge=0.0)
        with torch.no_grad():
            out = model.test_step(data)
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        del data
        if i >= warmup:
            t_data += t1 - t0
            t_model += t2 - t1
            n_dets += len(out[0].pred_instances)
    n = len(images) - warmup
    res = dict(arm=args.arm, images=n, model_s_per_img=t_model / n,
               data_s_per_img=t_data / n, forward_s_per_img=forward['t'] / n,
               outside_forward_share=(t_model - forward['t']) / t_model,
               merge_ms_per_img=1000 * forward['merge'] / n,
               dets_per_img=n_dets / n, peak_rss_mb=peak_rss_mb(), rss_before_mb=rss_before,
               image_size=list(images[0].shape[:2]))
    if args.device.startswith('cuda'):
        res['peak_cuda_mb'] = torch.cuda.max_memory_allocated() / 2**20
    return res


def merger_times(n: int, classes: int = 80, repeat: int = 20) -> dict:
    """Milliseconds per call of each merger on ``n`` detections of one image (one CPU
    thread, best of ``repeat``).

    The detections mimic three pyramid levels of a COCO image: clusters of 1-8 jittered
    copies around ``n / 4`` objects over ``classes`` labels, scores in (0, 1).
    """
    import torch

    from mmsniper.models import BoxVotingMerger, NMSMerger, SoftNMSMerger

    g = torch.Generator().manual_seed(0)
    k = max(1, n // 4)
    centres = torch.rand(k, 2, generator=g) * 600
    sizes = torch.exp(torch.randn(k, 1, generator=g) * 1.2 + 3.7).clamp(4, 600)
    obj = torch.randint(0, k, (n,), generator=g)
    c = centres[obj] + torch.randn(n, 2, generator=g) * sizes[obj] * 0.05
    half = sizes[obj] / 2 * (1 + 0.1 * torch.randn(n, 2, generator=g))
    boxes = torch.cat([c - half, c + half], 1)
    scores = torch.rand(n, generator=g)
    labels = torch.randint(0, classes, (k,), generator=g)[obj]
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for name, merger in [('NMSMerger', NMSMerger(0.5)),
                         ('SoftNMSMerger', SoftNMSMerger('gaussian', sigma=0.55)),
                         ('BoxVotingMerger', BoxVotingMerger())]:
        best = math.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            merger(boxes, scores, labels)
            best = min(best, time.perf_counter() - t0)
        out[name] = 1000 * best
    torch.set_num_threads(threads)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG, help='config (its model)')
    parser.add_argument('checkpoint', nargs='?', default=None, help='weights (default: random)')
    parser.add_argument('--images', type=int, default=3, help='timed COCO-sized images')
    parser.add_argument('--chip-image', type=int, default=8000, help='side of the large image')
    parser.add_argument('--chip-scales', type=float, nargs='+', default=[1.0, 0.5, 0.25])
    parser.add_argument('--max-pixels', type=int, default=2048 * 2048,
                        help='PyramidResize max_pixels of the large image')
    parser.add_argument('--chip-size', type=int, default=1024)
    parser.add_argument('--chip-batch', type=int, default=4)
    parser.add_argument('--arms', nargs='*', default=['sniper', 'dettta', 'chips'],
                        choices=['sniper', 'dettta', 'chips'])
    parser.add_argument('--merge-dets', type=int, nargs='*', default=[600, 3000],
                        help='also time each merger alone on this many detections (CPU)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=min(2, os.cpu_count() or 1),
                        help='torch CPU threads')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--arm', help=argparse.SUPPRESS)  # internal: run one arm
    parser.add_argument('--arm-out', help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.arm:
        with open(args.arm_out, 'w') as f:
            json.dump(run_arm(args), f)
        return
    results = []
    passthrough = [a for a in sys.argv[1:] if a not in args.arms and a != '--arms']
    if args.merge_dets and '--merge-dets' in passthrough:
        i = passthrough.index('--merge-dets')
        del passthrough[i:i + 1 + len(args.merge_dets)]
    for arm in args.arms:
        with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as tmp:
            path = tmp.name
        cmd = [sys.executable, osp.abspath(__file__)] + passthrough + [
            '--arm', arm, '--arm-out', path]
        subprocess.run(cmd, check=True)
        with open(path) as f:
            results.append(json.load(f))
        os.unlink(path)
        r = results[-1]
        print(f'{arm:7s} {r["image_size"]}: model {r["model_s_per_img"]:.2f} s/img '
              f'(forward {r["forward_s_per_img"]:.2f}, outside forward '
              f'{100 * r["outside_forward_share"]:.1f}%, merge {r["merge_ms_per_img"]:.1f} ms), '
              f'data {r["data_s_per_img"]:.2f} s/img, '
              f'{r["dets_per_img"]:.0f} dets/img, peak RSS {r["peak_rss_mb"]:.0f} MB'
              + (f', peak CUDA {r["peak_cuda_mb"]:.0f} MB' if 'peak_cuda_mb' in r else ''),
              flush=True)
    mergers = {}
    for n in args.merge_dets:
        mergers[n] = merger_times(n)
        print(f'mergers on {n} detections (80 classes, 1 thread): ' + ', '.join(
            f'{k} {v:.2f} ms' for k, v in mergers[n].items()), flush=True)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, device=args.device,
                           threads=args.threads, results=results, mergers_ms=mergers), f,
                      indent=1)


if __name__ == '__main__':
    main()
