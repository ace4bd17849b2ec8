"""Run a command and write the peak resident memory of its processes to a JSON file.

    python tools/airbus_runs/peak_rss.py RECORD.json -- CMD ...

``RECORD.json``: ``{"peak_rss_mb": ..., "returncode": ...}``. The peak is the largest
``ru_maxrss`` among the command and the descendants it waited for (Linux: KiB), i.e. the
peak of its largest process, not a sum (data-loader workers are not added). The exit code
is the command's. Written atomically (a temporary file renamed), so an interrupted run leaves
no half-written record for the resumed driver to read; mmsniper is not imported here, to keep
this process out of the measurement.
"""
import json
import os
import resource
import subprocess
import sys


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != '--':
        sys.exit(__doc__)
    rc = subprocess.call(sys.argv[3:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    tmp = f'{sys.argv[1]}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(dict(peak_rss_mb=round(peak, 1), returncode=rc), f)
    os.replace(tmp, sys.argv[1])
    return rc


if __name__ == '__main__':
    sys.exit(main())
