"""What the machine can hold and run: available memory and CPU count, checked before allocating.

Sizes asked for by options (``--num-samples``, ``--batch-sizes``, ``--input-size``,
``--threads``) are compared with what the machine has before any work, so a typo ends in one
line saying what was asked and what there is, not in the kernel's OOM killer or 30,000 threads.
"""

from __future__ import annotations

import os

from ..errors import InputError

# Keep this share of the available memory for everything the estimate does not count.
_HEADROOM = 0.8


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``, cgroup limits), or
    None when unknown."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file, encoding="ascii") as handle:
                limit_text = handle.read().strip()
            with open(usage_file, encoding="ascii") as handle:
                usage = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        if limit_text.isdigit() and int(limit_text) < 1 << 60:
            found.append(max(int(limit_text) - usage, 0))
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError):
            pass
    return min(found) if found else None


def format_bytes(nbytes: float) -> str:
    """``512 B``, ``1.5 KB`` ... ``2.0 PB`` (powers of 1024; PB is the largest unit)."""
    unit = "B"
    for larger in ("KB", "MB", "GB", "TB", "PB"):
        if abs(nbytes) < 1024:
            break
        nbytes /= 1024
        unit = larger
    return f"{int(nbytes)} B" if unit == "B" else f"{nbytes:.1f} {unit}"


def check_allocation(nbytes: float, what: str, *, hint: str | None = None) -> None:
    """Refuse, in one line, an allocation of ``nbytes`` for ``what`` that memory cannot hold."""
    available = available_memory()
    if available is None:
        return
    if nbytes > available * _HEADROOM:
        raise InputError(
            f"{what} needs about {format_bytes(nbytes)} of memory; {format_bytes(available)} is available",
            hint=hint or "use fewer samples, a smaller batch or a smaller input",
        )


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_threads(threads: int | None, option: str = "--threads") -> None:
    """Threads are bounded to the machine: 1..cpu_count()."""
    if threads is None:
        return
    limit = cpu_count()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= limit:
        raise InputError(f"{option}: received {threads!r}, expected 1..{limit} (the CPUs this process may use)")
