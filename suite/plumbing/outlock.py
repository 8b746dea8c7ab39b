"""An exclusive lock on a run's output directory, held for the whole run. Imports no torch.

Two runs writing into one directory would interleave their journals and replace each other's results, so
`tradeoff-bench run` holds `flock(LOCK_EX)` on OUT/.lock, its pid written inside, from before it reads or
writes the journal until it exits. The kernel drops a flock when its holder dies, however it dies (SIGKILL
included): a lock file left behind by a dead run is simply taken over, with no guessing from pids.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from suite.plumbing.errors import ConfigError
from suite.plumbing.fileio import ensure_dir, os_problem

LOCK_NAME = ".lock"


class OutputLock:
    """`acquire()` takes the lock (creating the directory) or raises ConfigError naming the holder's pid;
    it is released on `release()`, at the end of a `with` block, or when the process ends."""

    def __init__(self, out):
        self.out = Path(out)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock once; a second call while holding it does nothing."""
        if self._fd is not None:
            return
        ensure_dir(self.out)
        try:
            fd = os.open(self.out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ConfigError(f"{self.out}: cannot create the lock file {LOCK_NAME} ({os_problem(exc)}); "
                              "use a writable --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(f"{self.out}: another run (pid {holder}) is writing into this directory; "
                              "wait for it to finish or use another --out") from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError:  # a full disk: the pid only informs a second run's message
            pass

    def release(self) -> None:
        """Drop the lock (the file stays: removing it could let two runs lock two different files)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
