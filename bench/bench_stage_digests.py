"""What checking a stage's outputs costs, on a 1 GiB weights-sized file, all in one run:

* reading the file (the baseline: what loading the weights costs at least);
* xxh3-128 (``harness.stage_files.file_digest``, what stilts uses), sha256 and blake2b over it;
* the size check done every time a stage is looked at (``stat``).

Each figure is the best of ``--repeat`` passes with the file in the page cache (a second read of
a file just written), so the ratios compare hashing with reading, not with the disk. Prints GiB/s
and each one's time as a multiple of reading.

Usage: python bench/bench_stage_digests.py [--size-mib 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHUNK = 8 * 1024 * 1024


def read_only(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(CHUNK):
            pass


def hashlib_digest(name: str) -> Callable[[Path], None]:
    def run(path: Path) -> None:
        digest = hashlib.new(name)
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        digest.hexdigest()

    return run


def best_of(repeat: int, work: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    from harness.stage_files import file_digest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        block = os.urandom(CHUNK)
        with open(path, "wb") as handle:
            for _ in range(args.size_mib * 1024 * 1024 // CHUNK):
                handle.write(block)
        gib = path.stat().st_size / 2**30
        read_only(path)  # into the page cache
        baseline = best_of(args.repeat, lambda: read_only(path))
        rows = [("read (baseline)", baseline)]
        rows.append(("xxh3-128 (stilts)", best_of(args.repeat, lambda: file_digest(path))))
        rows.append(("sha256", best_of(args.repeat, lambda: hashlib_digest("sha256")(path))))
        rows.append(("blake2b", best_of(args.repeat, lambda: hashlib_digest("blake2b")(path))))
        stat_s = best_of(args.repeat, lambda: [path.stat() for _ in range(1000)]) / 1000
    print(f"{gib:.2f} GiB file, best of {args.repeat}")
    print(f"{'what':20} {'seconds':>8} {'GiB/s':>7} {'x read':>7}")
    for name, seconds in rows:
        print(f"{name:20} {seconds:8.3f} {gib / seconds:7.2f} {seconds / baseline:7.2f}")
    print(f"{'size check (stat)':20} {stat_s * 1e6:7.1f} µs per file")


if __name__ == "__main__":
    main()
