"""The floor under a packed build's time on this machine (``memory_floor.json``).

``python -m bench.memory_floor [--reads 2695,3395,4442] [--seconds 5]``

A build spends three quarters of its time in each insert's level-0 search, which scores 2,695 codes
an insert (counted in a 1M ``ties`` build at beam 256, ``bench/ANALYSIS.md``), each a 512-byte code
at a place nothing predicts; with the links back's re-pruning, whose reads miss too, 3,395; 4,442 in
all. ``memory_floor.c`` reads random 512-byte blocks out of arrays the size of the 1M and 5M builds'
codes, as fast as the machine allows (every line requested at once, nothing else in the way), on one
thread and on every core. From that rate:

    floor (s) = vectors x reads x 8 lines / (lines read per second, every core)

for each count of ``--reads``: the least time those reads can take if each comes from memory, with
nothing else (kernels, heaps, rows) in the way. A build goal below the floor needs fewer bytes read
per insert, not a faster loop.

``--blocks`` also measures, out of the 1M array on every core, blocks of other sizes (the same reader),
so that a smaller code's gain can be told before it is built: how many more codes a second the
machine delivers when each is 256 or 128 bytes instead of 512 (``by_block`` in the record).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CODE_BYTES = 512
# vectors: MiB read, those vectors' 512-byte codes (488 and 2,441 MiB) rounded up to multiples of 512 MiB
SIZES = {1_000_000: 512, 5_000_000: 2560}


def compiled(workdir: Path) -> Path:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise SystemExit("memory_floor needs a C compiler: install gcc (or set CC)")
    binary = workdir / "memory_floor"
    source = HERE / "memory_floor.c"
    subprocess.run([compiler, "-O3", "-march=native", "-pthread", "-o", str(binary), str(source)], check=True)
    return binary


def rate(
    binary: Path, mb: int, threads: int, seconds: float, batch: int = 16, block: int = CODE_BYTES
) -> dict[str, Any]:
    argv = [str(binary), str(block), str(mb), str(threads), str(batch), str(seconds)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def floor_seconds(vectors: int, reads: int, lines_per_us: float) -> float:
    lines = vectors * reads * (CODE_BYTES // 64)
    return lines / (lines_per_us * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--reads",
        default="2695,3395,4442",
        help="codes an insert reads from memory, comma-separated: its level-0 search; with the links back; all",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="each measurement's length")
    parser.add_argument(
        "--blocks",
        default="64,128,256,512,1024",
        help="block sizes in bytes (multiples of 64) also read out of the 1M array on every core; '' for none",
    )
    args = parser.parse_args()
    try:
        reads = [int(value) for value in args.reads.split(",")]
        blocks = [int(value) for value in args.blocks.split(",") if value.strip()]
    except ValueError:
        parser.error(f"--reads and --blocks take whole numbers separated by commas: {args.reads!r}, {args.blocks!r}")
    if any(block < 64 or block % 64 for block in blocks):
        parser.error(f"--blocks must be multiples of 64 bytes, not {args.blocks!r}")
    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        binary = compiled(Path(tmp))
        for vectors, mb in SIZES.items():
            one = rate(binary, mb, 1, args.seconds)
            every = rate(binary, mb, cores, args.seconds)
            rows.append(
                {
                    "vectors": vectors,
                    "codes_mb": mb,
                    "lines_per_us_one_thread": one["lines_per_us"],
                    "lines_per_us_every_core": every["lines_per_us"],
                    "floor_s": {str(r): round(floor_seconds(vectors, r, every["lines_per_us"]), 1) for r in reads},
                }
            )
        by_block = []
        for block in blocks:
            lines = rate(binary, SIZES[1_000_000], cores, args.seconds, block=block)["lines_per_us"]
            by_block.append({"block": block, "lines_per_us": lines, "blocks_per_us": round(lines * 64 / block, 2)})
    record = {
        "benchmark": "memory_floor",
        "reads_per_insert": reads,
        "cores": cores,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load": round(os.getloadavg()[0], 2),
        "rows": rows,
        "by_block": by_block,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory_floor.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
