"""Propose SNIPER scales, valid ranges, chip size and stride from an annotation file.

Reads a COCO-format annotation file (the boxes and image sizes, never the pixels),
proposes a complete SNIPER setting that brings the objects into the detector's
comfortable size band at one level at least, at the least pixel cost of positive chips,
and prints the proposal next to the COCO defaults: coverage per level, objects no level
covers, chips and pixels per image (counted by the chip engine on a sample). See
docs/user_guides/advisor.md for the algorithm.

Examples:
    python tools/analysis_tools/advise_scales.py data/coco/annotations/instances_train2017.json
    python tools/analysis_tools/advise_scales.py data/dota/train.json --band 24 160 \\
        --out configs/dota_setting.py --base configs/sniper_faster_r101.py \\
        --plot sizes.png --json advice.json
    # a synthetic COCO-sized file for the benchmark in docs/user_guides/advisor.md
    python tools/analysis_tools/advise_scales.py --make-synthetic coco 118287 /tmp/coco_like.json
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if osp.isfile(osp.join(_root, 'mmsniper', '__init__.py')) and _root not in sys.path:
    sys.path.insert(0, _root)  # the checkout's mmsniper, not an installed copy


def _pixels(text: str) -> float:
    """``2e6``, ``2M``, ``500k`` -> pixels."""
    t = text.strip().lower()
    mult = {'k': 1e3, 'm': 1e6, 'g': 1e9}.get(t[-1:], 1.0)
    try:
        value = float(t[:-1] if t[-1:] in 'kmg' else t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected pixels such as 2e6 or 2M, got {text!r}'
                                         ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a positive number of pixels, got {text!r}')
    return value


def parse_args(argv=None) -> argparse.Namespace:
    """The command line (``--help``)."""
    p = argparse.ArgumentParser(
        description='Propose a SNIPER setting (scales, training and test valid ranges, chip\n'
                    'size, stride) from the boxes of a COCO-format annotation file, and compare\n'
                    'it with the COCO defaults (coverage per level, objects no level covers,\n'
                    'chips and pixels per image). Algorithm: docs/user_guides/advisor.md.',
        epilog=__doc__[__doc__.index('Examples:'):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('ann_file', nargs='?', metavar='ANN_FILE',
                   help='COCO-format JSON: "images" (id, width, height) and "annotations" '
                        '(image_id, bbox [x, y, w, h]); pixels are never read')
    p.add_argument('--chip-size', type=int, default=512,
                   help='chip side in network pixels (the paper: 512, a batch of 16-20 chips '
                        'fits one GPU); the band top must fit: band[1] < chip - stride - 1; '
                        'default %(default)s')
    p.add_argument('--stride', type=int, default=None,
                   help='candidate chip grid step, scaled pixels; default chip_size // 16 '
                        '(32 at 512, the paper)')
    p.add_argument('--band', type=float, nargs=2, default=(32.0, 160.0), metavar=('LO', 'HI'),
                   help='comfortable object size, sqrt(w*h) in the network input (scaled '
                        'pixels): every level trains the objects that its factor brings into '
                        'this band; default 32 160')
    p.add_argument('--overlap', type=float, default=1.25,
                   help='least ratio by which neighbouring levels\' training ranges overlap '
                        '(1.25: e.g. [.., 50) and [40, ..)); default %(default)s')
    p.add_argument('--leave-small', type=float, default=0.125, metavar='FRACTION',
                   help='share of the smallest objects allowed below the band at the finest '
                        'level (they are still trained there); lower it to upscale more; '
                        'default %(default)s')
    p.add_argument('--leave-large', type=float, default=0.001, metavar='FRACTION',
                   help='share of the largest objects allowed above the band at the coarsest '
                        'level (still trained there); default %(default)s')
    p.add_argument('--max-upscale', type=float, default=8.0,
                   help='largest factor of the finest level (for an image of the median '
                        'size); default %(default)s')
    p.add_argument('--budget', type=_pixels, default=None, metavar='PIXELS',
                   help='most positive-chip pixels per image (e.g. 2e6 or 2M): the finest level '
                        'is coarsened (more small objects left below the band) until it fits; '
                        'default: no budget')
    p.add_argument('--min-size', type=float, default=None,
                   help='sniper.min_size of the SNIPER config: boxes smaller than this '
                        '(scaled pixels, per side) get no chip at a level; default: the '
                        "settings' default (10)")
    p.add_argument('--scale-form', choices=('resolution', 'factor'), default='resolution',
                   help='write scales as (short, long) resolutions, the configs\' form (an '
                        'image of the median size gets the proposed factor exactly, others '
                        'are normalised to it), or as plain factors (every image scaled alike: '
                        'for sets whose images share a ground resolution, e.g. aerial tiles); '
                        'default %(default)s')
    p.add_argument('--sample', type=int, default=500,
                   help='images whose positive chips are counted (chip engine) to estimate '
                        'chips and pixels per image; cut to fewer (>= 20) for huge crowded '
                        'images; 0 counts every image (slow on big sets); default %(default)s')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the sample and of the chip shuffle; default %(default)s')
    p.add_argument('--out', metavar='SNIPPET.py',
                   help='write a config fragment: the sniper block and its owners '
                        '(train_dataloader.dataset, tta_model, tta_pipeline)')
    p.add_argument('--base', metavar='CONFIG',
                   help='with --out: make the fragment inherit CONFIG (_base_), so it is a '
                        'complete config; without it, paste the fragment at the end of a '
                        'SNIPER config')
    p.add_argument('--plot', metavar='HIST.png',
                   help='write a histogram of object sizes (log axis) with the ranges drawn')
    p.add_argument('--json', metavar='OUT.json', help='write the proposal and both reports')
    p.add_argument('--skip-unknown-images', action='store_true',
                   help='count and skip annotations whose image_id is not in "images" '
                        '(default: stop with an error naming them)')
    p.add_argument('--strict', action='store_true',
                   help='stop with an error (exit status 2) when annotations have data errors '
                        '(non-finite, zero/negative size, outside the image, unknown category, '
                        '...), as training does with strict_annotations=True; default: count '
                        'them, leave them out and report them')
    p.add_argument('--quiet', action='store_true', help='no progress messages on stderr')
    p.add_argument('--make-synthetic', nargs=3, metavar=('KIND', 'IMAGES', 'OUT.json'),
                   help='instead: write a synthetic annotation file, KIND coco (COCO-like '
                        'sizes, 640-pixel images) or aerial (4000x4000, objects 4-40 px), and '
                        'exit')
    args = p.parse_args(argv)
    if args.make_synthetic is None and args.ann_file is None:
        p.error('ANN_FILE is required (or --make-synthetic KIND IMAGES OUT.json)')
    if args.base and not args.out:
        p.error('--base needs --out')
    return args


class _Progress:
    """A one-line counter on stderr (a terminal), or a line per finished stage."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.label = ''
        self.t0 = time.perf_counter()

    def stage(self, label: str) -> None:
        self.label = label
        self.t0 = time.perf_counter()
        if not self.quiet and self.tty:
            sys.stderr.write(f'{label} ...')
            sys.stderr.flush()

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or not self.tty:
            return
        width = 30
        fill = int(width * done / max(total, 1))
        sys.stderr.write(f'\r{self.label} [{"#" * fill}{"." * (width - fill)}] {done}/{total}')
        sys.stderr.flush()

    def done(self, what: str = '') -> None:
        if self.quiet:
            return
        msg = f'{self.label}: {what + ", " if what else ""}{time.perf_counter() - self.t0:.1f} s'
        sys.stderr.write(('\r' + msg + ' ' * 20 if self.tty else msg) + '\n')
        sys.stderr.flush()


def make_synthetic(kind: str, images: str, out: str) -> None:
    """``--make-synthetic``: write :func:`synthetic_coco` ``(kind, images)`` to ``out``."""
    from mmsniper.generated.synthetic import synthetic_coco

    try:
        n = int(images)
    except ValueError:
        raise SystemExit(f'advise_scales: error: IMAGES: expected an integer, got {images!r}'
                         ) from None
    data = synthetic_coco(kind, n, seed=0)
    with open(out, 'w') as f:
        json.dump(data, f)
    print(f'wrote {out}: {n} {kind}-like images, {len(data["annotations"])} boxes')


def main(argv=None) -> int:
    """Run the tool; returns the exit status (2: a problem with the input, named)."""
    args = parse_args(argv)
    if args.make_synthetic:
        try:
            make_synthetic(*args.make_synthetic)
        except ValueError as e:
            print(f'advise_scales: error: {e}', file=sys.stderr)
            return 2
        return 0
    from mmsniper import advisor as adv

    t_start = time.perf_counter()
    band = tuple(args.band)
    prog = _Progress(args.quiet)
    try:
        mb = os.path.getsize(args.ann_file) / 2 ** 20 if osp.isfile(args.ann_file) else 0
        prog.stage(f'reading {args.ann_file} ({mb:.0f} MB)')
        boxes = adv.load_coco_boxes(args.ann_file, skip_unknown_images=args.skip_unknown_images)
        prog.done(f'{boxes.num_images} images, {len(boxes.boxes)} boxes')
        boxes.audit.check(args.strict, 'fix these annotations (check_dataset.py lists them) '
                                       'or run without --strict to leave them out')
        prog.stage('searching scales')
        advice = adv.propose_setting(
            boxes, band=band, chip_size=args.chip_size, stride=args.stride,
            overlap=args.overlap, leave_small=args.leave_small, leave_large=args.leave_large,
            max_upscale=args.max_upscale, budget=args.budget, scale_form=args.scale_form,
            seed=args.seed, progress=prog, min_size=args.min_size)
        prog.done()
        reports = []
        coco = adv.COCO_DEFAULTS if args.min_size is None else \
            adv.COCO_DEFAULTS.replace(min_size=args.min_size)
        for name, setting in (('proposal', advice.setting), ('COCO defaults', coco)):
            prog.stage(f'counting chips: {name}')
            reports.append((name, adv.evaluate_setting(boxes, setting, band, args.sample,
                                                       args.seed, prog)))
            prog.done()
    except ValueError as e:
        if not args.quiet and prog.tty:
            sys.stderr.write('\n')
        print(f'advise_scales: error: {e}', file=sys.stderr)
        return 2

    line = f'{args.ann_file}: {boxes.num_images} images, {len(boxes.boxes)} boxes'
    if args.scale_form == 'resolution':
        line += (f'; median image sides {advice.reference[1]:g} (long), {advice.reference[0]:g} '
                 '(short) get the factors below exactly')
    print(line)
    if not boxes.audit.clean:
        print(f'  {boxes.audit.report()}')
    print(f'band {band[0]:g}-{band[1]:g} px (network input); target sizes '
          f'{advice.target[0]:.1f}-{advice.target[1]:.1f} px (original, sqrt(w*h)); '
          f'{len(advice.factors)} level(s), factors '
          + ', '.join(f'{f:.3g}' for f in advice.factors))
    for note in advice.notes:
        print(f'note: {note}')
    print()
    print(adv.format_report(reports, band))
    if any(rep['sample_images'] < rep['images'] for _, rep in reports):
        print('(chips and pixels per image: estimated on a random sample of images; coverage: '
              'every object)')
    print()
    snippet = adv.config_snippet(advice.setting)
    print(snippet[snippet.index('sniper = dict('):].rstrip())

    if args.out:
        base = None
        if args.base:  # _base_ paths are relative to the fragment's folder
            base = osp.relpath(osp.abspath(args.base), osp.dirname(osp.abspath(args.out)))
            if base.startswith(osp.join(osp.pardir, osp.pardir, osp.pardir)):
                base = osp.abspath(args.base)
        prop = reports[0][1]
        header = [
            'SNIPER setting proposed by tools/analysis_tools/advise_scales.py for',
            f'{args.ann_file} ({boxes.num_images} images, {len(boxes.boxes)} boxes).',
            f'Band {band[0]:g}-{band[1]:g} px: {100 * prop["covered"]:.1f} % of the objects '
            f'in band at >= 1 level, {100 * prop["too_small"]:.1f} % too small, '
            f'{100 * prop["too_large"]:.1f} % too large;',
            f'{prop["chips_per_image"]:.2f} positive chips ({prop["pixels_per_image"] / 1e6:.2f}'
            f' Mpx) per image (sample of {prop["sample_images"]} images).',
            'Paste at the end of a SNIPER config, or write it with --base CONFIG and _base_ it:',
            'training and the test pyramid both take these values from `sniper`.',
        ]
        text = adv.config_snippet(advice.setting, base=base, header=header)
        with open(args.out, 'w') as f:
            f.write(text)
        print(f'\nwrote {args.out}')
    if args.plot:
        from mmsniper.visualization.advisor import plot_size_histogram

        plot_size_histogram(boxes, [('proposal', advice.setting),
                                    ('COCO defaults', coco)], args.plot, band)
        print(f'wrote {args.plot}')
    if args.json:
        out = dict(ann_file=args.ann_file, images=boxes.num_images, boxes=len(boxes.boxes),
                   skipped=boxes.skipped, annotations=boxes.audit.as_dict(), band=list(band),
                   proposal=dict(setting=advice.setting.as_dict(), factors=advice.factors,
                                 reference=list(advice.reference), target=list(advice.target),
                                 notes=advice.notes, candidates=advice.candidates),
                   reports={name: rep for name, rep in reports},
                   seconds=time.perf_counter() - t_start)
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
        print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
