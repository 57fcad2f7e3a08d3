"""How much of each pinned core something other than the server and wrk used while
measuring. The bench shares its machine (other jobs, other test runs): figures taken
while a foreign process ran on the server's core are not the server's figures, so the
report says so instead of printing them as if they were clean."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# /proc/stat per-CPU columns counted as busy: user nice system (idle iowait skipped) irq softirq steal.
# https://www.kernel.org/doc/html/latest/filesystems/proc.html#miscellaneous-kernel-statistics-in-proc-stat
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)


def core_busy_s(cpu: int, proc_stat: str) -> float:
    """Seconds core `cpu` has been busy since boot, from the text of /proc/stat."""
    for line in proc_stat.splitlines():
        name, *columns = line.split()
        if name == f"cpu{cpu}":
            return sum(int(columns[i]) for i in _BUSY_COLUMNS) / TICKS_PER_S
    raise ValueError(f"no cpu{cpu} line in /proc/stat")


def group_cpu_s(pgid: int, proc: Path = Path("/proc")) -> float:
    """CPU seconds (user + system, all threads) used so far by the processes of group `pgid`."""
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # fields from the 3rd (state) on
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])  # utime, stime: the 14th and 15th fields
    return total / TICKS_PER_S


def children_cpu_s() -> float:
    """CPU seconds used by this process's finished children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSnapshot:
    when_s: float
    server_core_s: float
    wrk_core_s: float
    server_s: float
    wrk_s: float


def snapshot(*, server_cpu: int, wrk_cpu: int, server_pgid: int, now_s: float) -> CpuSnapshot:
    proc_stat = Path("/proc/stat").read_text()
    return CpuSnapshot(
        when_s=now_s,
        server_core_s=core_busy_s(server_cpu, proc_stat),
        wrk_core_s=core_busy_s(wrk_cpu, proc_stat),
        server_s=group_cpu_s(server_pgid),
        wrk_s=children_cpu_s(),
    )


def foreign_pct(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Share of each core's wall time used by anything but its own occupant (also kernel
    network work not charged to a process, a few percent on loopback)."""
    wall = after.when_s - before.when_s
    if wall <= 0:
        return {"server_core": 0.0, "wrk_core": 0.0}
    server_core = (after.server_core_s - before.server_core_s) - (after.server_s - before.server_s)
    wrk_core = (after.wrk_core_s - before.wrk_core_s) - (after.wrk_s - before.wrk_s)
    return {
        "server_core": round(max(server_core, 0.0) / wall * 100, 1),
        "wrk_core": round(max(wrk_core, 0.0) / wall * 100, 1),
    }


def server_us_per_request(before: CpuSnapshot, after: CpuSnapshot, requests: int) -> float | None:
    """CPU microseconds the server's process group spent per answered request. Unlike req/s,
    it does not depend on the load generator keeping up, so it compares servers measured on a
    busy machine (a load generator short of CPU leaves the server idle, not slower)."""
    if requests <= 0:
        return None
    return round((after.server_s - before.server_s) / requests * 1e6, 1)
