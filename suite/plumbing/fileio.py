"""Reading and writing the suite's files safely. Imports no torch.

Every output (results, reports, plots, Markdown, exports) is written through a fsynced temporary file
and a rename, so a reader, a SIGKILL or a full disk never leaves half a file behind; every input is read
with a size cap, so a path like /dev/zero or a runaway file is refused instead of filling the memory.
File-system failures become ConfigError naming the path: one line, exit code 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from suite.plumbing.errors import ConfigError

# Results of the largest shipped plan (optimizers, 768 runs) are about 10 MB; plans and journals far less.
MAX_INPUT_BYTES = 128 * 2**20
CHUNK = 2**20


def os_problem(exc: OSError) -> str:
    """An OSError in words, without the path (the caller names it): "No space left on device"."""
    return exc.strerror or type(exc).__name__


def read_bytes_capped(path, limit: int = MAX_INPUT_BYTES, what: str = "an input file") -> bytes:
    """The bytes of a file of at most `limit` bytes; ConfigError naming the path otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise ConfigError(f"{path}: {size:,} bytes, more than the {limit:,} allowed for {what}")
            data = bytearray()
            while len(data) <= limit:  # devices and pipes report no size: read at most one byte too many
                chunk = handle.read(min(CHUNK, limit + 1 - len(data)))
                if not chunk:
                    return bytes(data)
                data += chunk
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({os_problem(exc)})") from None
    raise ConfigError(f"{path}: more than the {limit:,} bytes allowed for {what}")


def ensure_dir(path) -> Path:
    """The directory `path`, created with its parents where missing; ConfigError when it cannot be."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{path}: exists and is not a directory") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the directory ({os_problem(exc)})") from None
    return path


@contextmanager
def atomic_file(path, binary: bool = False) -> Iterator:
    """A handle whose content replaces `path` in one rename when the block ends without an error; on an
    error the temporary file is removed and `path` is left as it was. OSError becomes ConfigError."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected a file to write")
    ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # os.open with mode 0o666 applies the umask (mkstemp would leave the result readable by its owner only)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write ({os_problem(exc)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path, text: str) -> None:
    """Write text through a fsynced temporary file and a rename: a reader never sees half a file."""
    with atomic_file(path) as handle:
        handle.write(text)


def write_json_atomic(path, document: dict) -> None:
    """Write JSON (strict: no NaN or infinity) through a temporary file and a rename."""
    write_text_atomic(path, json.dumps(document, indent=2, allow_nan=False))
