"""Reading a file a user names (a scenario, a sweep file, a roster, a result folder's manifest or run file)
safely, for every layer: only a regular file of bounded size is read, and a FIFO, device or folder
is refused without reading it (opened non-blocking, so a FIFO cannot hang the command). The
checks live here once; each caller names the file in its own one-line error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class FileRefused(ValueError):
    """Why a file was not read, in words without its path (the caller's error names the file).

    `reason` says which check refused it, for a caller that words its errors its own way:
    "missing", "unreadable" (`strerror` says why), "link", "folder", "special" (a device, FIFO or
    socket) or "too large"."""

    def __init__(self, reason: str, message: str, strerror: str = "", size: int | None = None):
        super().__init__(message)
        self.reason, self.strerror, self.size = reason, strerror, size  # size: of a file too large, when known


def open_regular(path: Path | str, limit: int, *, follow_links: bool = False) -> BinaryIO:
    """`path` opened for reading in binary, when it is a regular file of at most `limit` bytes by
    its size now; FileRefused otherwise. For a caller that reads a large file in pieces (a roster).

    A symbolic link is refused unless `follow_links` (a result folder's files are ours and never
    links; a user's scenario or roster may well be one)."""
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)  # POSIX flags, absent
             | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0)))                 # on Windows
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:  # where a folder cannot even be opened
        raise FileRefused("folder", "not a regular file") from None
    except OSError as exc:
        if not follow_links and os.path.islink(path):
            raise FileRefused("link", "is a symbolic link") from None
        reason = "missing" if isinstance(exc, FileNotFoundError) else "unreadable"
        raise FileRefused(reason, exc.strerror or str(exc), exc.strerror or str(exc)) from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = FileRefused("folder" if stat.S_ISDIR(info.st_mode) else "special", "not a regular file")
    elif info.st_size > limit:
        problem = FileRefused("too large", f"{info.st_size:,} bytes, more than the {limit:,} allowed",
                              size=info.st_size)
    if problem:
        os.close(fd)
        raise problem
    return os.fdopen(fd, "rb")


def read_regular(path: Path | str, limit: int, *, follow_links: bool = False) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes; FileRefused otherwise (see
    `open_regular`)."""
    with open_regular(path, limit, follow_links=follow_links) as f:
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise FileRefused("unreadable", exc.strerror or str(exc), exc.strerror or str(exc)) from None
    if len(data) > limit:  # grew after it was opened
        raise FileRefused("too large", f"more than the {limit:,} bytes allowed")
    return data
