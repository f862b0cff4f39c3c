"""Throughput of the reference implementation: random protocol steps with faults, host writes, and both
recoveries. Run: ``python bench/bench_impl.py``."""

from __future__ import annotations

import time

from pitmirror.impl import FaultPlan, MirroredSystem


def bench_random_steps(steps: int = 5_000) -> float:
    """Random steps with faults per second (blocks=3, journal_capacity=4: model-sized)."""
    s = MirroredSystem(blocks=3, journal_capacity=4, seed=1, max_in_flight=2)
    t = time.perf_counter()
    s.run_random(steps, FaultPlan(loss=1.0, duplication=1.0, path_failure=0.3, crash=0.3, recovery=0.5))
    return steps / (time.perf_counter() - t)


def bench_host_writes(writes: int = 2_000) -> float:
    """Synchronous host writes per second, checkpointing as the journal fills (blocks=64)."""
    s = MirroredSystem(blocks=64, journal_capacity=64, seed=1)
    t = time.perf_counter()
    for i in range(writes):
        if s.a.journal_free() == 0:
            s.checkpoint()
        s.write(i % 64, i % 7 + 1)
    return writes / (time.perf_counter() - t)


def bench_recovery(method: str, blocks: int = 64) -> tuple[float, int, int]:
    """Seconds to recover ``blocks`` blocks, all differing, and the messages and data blocks that crossed."""
    s = MirroredSystem(blocks=blocks, journal_capacity=4 * blocks, seed=1, max_in_flight=8)
    for lba in range(blocks):
        s.write(lba, 1)
    s.set_marker("m")
    for lba in range(blocks):
        s.write(lba, 2)
    t = time.perf_counter()
    report = s.recover(to="m", method=method)
    return time.perf_counter() - t, report.crossed.messages_sent, report.crossed.data_blocks_sent


def main() -> None:
    """Print the numbers."""
    print(f"random steps with faults: {bench_random_steps():,.0f}/s")
    print(f"synchronous host writes:  {bench_host_writes():,.0f}/s")
    for method in ("writethrough", "swap"):
        secs, msgs, data = bench_recovery(method)
        print(f"{method:>12} recovery of 64 blocks: {secs * 1000:.0f} ms, {msgs} messages, "
              f"{data} data blocks")


if __name__ == "__main__":
    main()
