"""A local Ray cluster of two fake nodes for the tests (the session's `ray_cluster` fixture in conftest.py), and
what the tests check on its processes: pids by command line, and listening addresses off the loopback interface."""

from __future__ import annotations

import os
from pathlib import Path

RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0",
           "RAY_memory_monitor_refresh_ms": "0"}
STORE = 80 * 1024 * 1024


def ray_pids(marker: str) -> list[int]:
    """Pids of the processes whose command line names `marker` (this test's Ray temporary folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def not_loopback(pids: list[int]) -> list[str]:
    """The listening TCP addresses of these processes that are not on the loopback interface."""
    inodes = set()
    for pid in pids:
        try:
            inodes |= {os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
    found = []
    loopback = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}  # 127.0.0.1, ::1
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and f"socket:[{inode}]" in inodes and address.split(":")[0] not in loopback:
                found.append(address)
    return found
