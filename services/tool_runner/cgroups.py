"""Memory, process and CPU limits for a whole sandbox run, across every process it starts, in a cgroup of its own.

rlimits hold per process (six processes could each take the per-process memory); a cgroup holds for the run.
cgroup v2 is used where the service may create groups under /sys/fs/cgroup/cognitionos-sandbox; cgroup v1 (memory,
pids and, where mounted, cpu hierarchies) under the service's own groups otherwise. Where neither can be written
(an unprivileged service without a delegated cgroup), runs fall back to the per-process rlimits plus the per-run
process count, and the tool-runner's health says so.
"""

import contextlib
import functools
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP_NAME = "cognitionos-sandbox"
CPU_PERIOD_US = 100_000
Flavour = Literal["v2", "v1"]


def _own_path(controller: str) -> str:
    """This process's group in a v1 hierarchy (`controller`) or in v2 (`""`), from /proc/self/cgroup."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (controller == "" and controllers == ""):
            return path.lstrip("/")
    return ""


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _v1_controllers() -> tuple[str, ...]:
    """memory and pids, then cpu where its hierarchy is mounted (the CPU cap is left out where it is not)."""
    return ("memory", "pids", "cpu") if (CGROUP_ROOT / "cpu").is_dir() else ("memory", "pids")


def _parents(flavour: Flavour) -> list[Path]:
    if flavour == "v2":
        return [CGROUP_ROOT / GROUP_NAME]
    return [CGROUP_ROOT / c / _own_path(c) / GROUP_NAME for c in _v1_controllers()]


def _prepare_v2() -> None:
    parent = CGROUP_ROOT / GROUP_NAME
    controllers = "+memory +pids +cpu" if "cpu" in (CGROUP_ROOT / "cgroup.controllers").read_text().split() else ""
    _write(CGROUP_ROOT / "cgroup.subtree_control", controllers or "+memory +pids")
    parent.mkdir(exist_ok=True)
    _write(parent / "cgroup.subtree_control", controllers or "+memory +pids")


def _prepare_v1() -> None:
    for parent in _parents("v1"):
        parent.mkdir(exist_ok=True)


@functools.cache
def cgroup_flavour() -> Flavour | None:
    """Which cgroups this process can give runs, checked once by making the parent group(s)."""
    attempts: list[tuple[Flavour, Callable[[], None]]] = []
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        attempts.append(("v2", _prepare_v2))
    if (CGROUP_ROOT / "memory").is_dir() and (CGROUP_ROOT / "pids").is_dir():
        attempts.append(("v1", _prepare_v1))
    for flavour, prepare in attempts:
        try:
            prepare()
            probe = RunCgroup.create(memory_mb=64, max_processes=4, cpu_percent=100, flavour=flavour)
            probe.remove()
            return flavour
        except OSError as exc:
            logger.info("cgroup %s not usable for sandbox runs: %s", flavour, exc)
    return None


@dataclass(kw_only=True)
class RunCgroup:
    flavour: Flavour
    groups: list[Path]

    @classmethod
    def create(cls, *, memory_mb: int, max_processes: int, cpu_percent: int, flavour: Flavour) -> "RunCgroup":
        name = f"run-{uuid.uuid4().hex[:16]}"
        groups = [parent / name for parent in _parents(flavour)]
        for group in groups:
            group.mkdir()
        limit = str(memory_mb * 1024 * 1024)
        quota = CPU_PERIOD_US * cpu_percent // 100
        if flavour == "v2":
            (group,) = groups
            _write(group / "memory.max", limit)
            with contextlib.suppress(OSError):  # no swap accounting on this kernel: nothing to turn off
                _write(group / "memory.swap.max", "0")
            _write(group / "pids.max", str(max_processes))
            with contextlib.suppress(FileNotFoundError):  # no cpu controller delegated here
                _write(group / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        else:
            memory, pids, *cpu = groups
            _write(memory / "memory.limit_in_bytes", limit)
            with contextlib.suppress(OSError):
                _write(memory / "memory.memsw.limit_in_bytes", limit)
            _write(pids / "pids.max", str(max_processes))
            for group in cpu:
                _write(group / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(group / "cpu.cfs_quota_us", str(quota))
        return cls(flavour=flavour, groups=groups)

    def cpu_limited(self) -> bool:
        if self.flavour == "v2":
            return (self.groups[0] / "cpu.max").exists()
        return len(self.groups) == 3

    def join(self) -> None:
        """Runs in the child between fork and exec: the run's every process starts inside the group(s)."""
        for group in self.groups:
            _write(group / "cgroup.procs", str(os.getpid()))

    def memory_exceeded(self) -> bool:
        events = self.groups[0] / ("memory.events" if self.flavour == "v2" else "memory.oom_control")
        try:
            fields = dict(line.split() for line in events.read_text().splitlines() if len(line.split()) == 2)
        except OSError:
            return False
        return int(fields.get("oom_kill", "0")) > 0

    def remove(self) -> None:
        """Kill whatever the run left (it may have escaped the session bwrap started), then drop the group(s)."""
        for _ in range(50):
            pids = self._members()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        for group in self.groups:
            with contextlib.suppress(OSError):
                group.rmdir()

    def _members(self) -> list[int]:
        members: set[int] = set()
        for group in self.groups:
            with contextlib.suppress(OSError):
                members.update(int(pid) for pid in (group / "cgroup.procs").read_text().split())
        return sorted(members)
