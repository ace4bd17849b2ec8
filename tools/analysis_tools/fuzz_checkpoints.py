"""Fuzz mmsniper's safe checkpoint loader with mutated genuine checkpoints; see ``--help``."""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (checkout first on sys.path)

EPILOG = """\
Each case mutates a genuine mmengine-style checkpoint (weights, Adam state, message hub with
HistoryBuffers, NumPy values, RNG states): its pickle stream (bit flips, interesting
integers, inserted / deleted / duplicated ranges, truncation), the size and compression
fields of its zip headers, its zip bytes, or its legacy-format bytes. Case i of seed s is
the same mutant on every machine. A case passes when it loads or is refused with
UnsafeCheckpointError; it fails on any other exception, a crash (segfault), more than
--timeout seconds, or more than --memory-mb MB above the worker's start (RLIMIT_AS).

exit status: 0 every case passed, 1 failures (listed), 2 the run could not start.

examples:
  python tools/analysis_tools/fuzz_checkpoints.py --count 20000 --workers 2
  python tools/analysis_tools/fuzz_checkpoints.py --count 1000 --seed 3 --json out.json
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description='Load random mutations of a genuine checkpoint with the safe loader, in '
        'worker processes with a per-case time limit and an address-space limit; print how '
        'many loaded, how many were refused, and every failure with its case number.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--count', type=int, default=1000, help='number of cases (default 1000)')
    p.add_argument('--seed', type=int, default=0, help='run seed (default 0)')
    p.add_argument('--workers', type=int, default=1, help='worker processes (default 1)')
    p.add_argument('--timeout', type=int, default=10, help='seconds per case (default 10)')
    p.add_argument('--memory-mb', type=int, default=256,
                   help='address space a case may add to the worker (default 256)')
    p.add_argument('--json', help='also write the summary to this file')
    args = p.parse_args(argv)

    from mmsniper.engine.checkpoint_fuzz import run_fuzz

    try:
        summary = run_fuzz(args.count, args.seed, args.workers, args.timeout, args.memory_mb)
    except RuntimeError as e:
        print(f'fuzz_checkpoints.py: error: {e}', file=sys.stderr)
        return 2
    print(f'{summary["count"]} cases (seed {summary["seed"]}): {summary["loaded"]} loaded, '
          f'{summary["refused"]} refused, {len(summary["failures"])} failures; slowest case '
          f'{summary["max_seconds"]:.3f} s; {summary["wall_seconds"]} s in all')
    for f in summary['failures'][:50]:
        print(f'  case {f["case"]}: {f["result"]}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(summary, f, indent=1)
    return 1 if summary['failures'] else 0


if __name__ == '__main__':
    sys.exit(main())
