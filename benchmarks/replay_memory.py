"""Replay memory for 1M Atari transitions: this suite's frame-once buffer against the 1.1 x 1M x 84 x 84 bytes goal.

Fills a 1,000,000-frame ReplayBuffer (84x84 uint8, stacks of 4) with episodes of random length, and reports the
buffer's own array bytes and the growth of the process's resident memory while filling it (the arrays are touched
page by page, so RSS shows what is really used). A buffer that stores each transition's two stacked states would
need 2 x 4 x 84 x 84 bytes per transition, 8x as much.

    python benchmarks/replay_memory.py [--frames 1000000] [--out benchmarks/results/replay_memory.json]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from record import positive_int, record

from replicate_suite.errors import ReplicateError
from replicate_suite.rl.replay import ReplayBuffer


def rss_bytes() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=positive_int, default=1_000_000)
    parser.add_argument("--out", default="benchmarks/results/replay_memory.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (84, 84), dtype=np.uint8)
    before = rss_bytes()
    try:
        replay = ReplayBuffer(args.frames, (84, 84), stack=4, seed=0)
    except ReplicateError as exc:
        sys.exit(f"error: {exc}")
    started, written = time.perf_counter(), 0
    while written < args.frames:
        replay.start_episode(frame)
        written += 1
        for _ in range(int(rng.integers(100, 3000))):
            replay.add(int(rng.integers(6)), 0.0, False, frame)
            written += 1
    fill_seconds = time.perf_counter() - started
    grown = rss_bytes() - before
    t0 = time.perf_counter()
    for _ in range(1000):
        replay.sample(32)
    sample_ms = time.perf_counter() - t0  # 1000 samples -> seconds == ms per sample
    goal = 1.1 * args.frames * 84 * 84
    result = {
        "frames": args.frames,
        "buffer_array_bytes": replay.nbytes,
        "rss_growth_bytes": grown,
        "goal_bytes": goal,
        "array_bytes_over_frame_pixels": replay.nbytes / (args.frames * 84 * 84),
        "rss_growth_over_frame_pixels": grown / (args.frames * 84 * 84),
        "stacked_pair_buffer_bytes": 2 * 4 * 84 * 84 * args.frames,
        "meets_goal": bool(max(grown, replay.nbytes) <= goal),
        "fill_seconds": round(fill_seconds, 2),
        "sample_batch32_ms": round(sample_ms, 3),
    }
    record(result, args.out)


if __name__ == "__main__":
    main()
