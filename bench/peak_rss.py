"""``python -m bench.peak_rss ARGS...``: run ``logo-ann ARGS`` in this process, then print its peak RSS.

The last stdout line is ``{"peak_rss_mb": ...}``: ``VmHWM`` from ``/proc/self/status``, the most
resident memory this process's address space ever held. (``getrusage``'s ``ru_maxrss`` would not
do: Linux carries the parent's figure over ``fork``/``exec``.) Also ``cpu_s``, the CPU seconds
this process used (user + system): on a shared machine, rows per CPU second is the figure that
does not depend on what else runs.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from common.cli.commands import main


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process's own CPU time (not inherited)
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}))
    sys.exit(code)
