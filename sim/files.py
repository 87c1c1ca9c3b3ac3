"""Reading a file a user names (a scenario, a sweep file, a result folder's manifest or run file)
safely, for every layer: only a regular file of bounded size is read, and a FIFO, device or folder
is refused without reading it (opened non-blocking, so a FIFO cannot hang the command). The
checks live here once; each caller names the file in its own one-line error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(ValueError):
    """Why a file was not read, in words without its path (the caller's error names the file).

    `reason` says which check refused it, for a caller that words its errors its own way:
    "missing", "unreadable" (`strerror` says why), "link", "folder", "special" (a device, FIFO or
    socket) or "too large"."""

    def __init__(self, reason: str, message: str, strerror: str = ""):
        super().__init__(message)
        self.reason, self.strerror = reason, strerror


def read_regular(path: Path | str, limit: int, *, follow_links: bool = False) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes; FileRefused otherwise.

    A symbolic link is refused unless `follow_links` (a result folder's files are ours and never
    links; a user's scenario may well be one)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_links and os.path.islink(path):
            raise FileRefused("link", "is a symbolic link") from None
        reason = "missing" if isinstance(exc, FileNotFoundError) else "unreadable"
        raise FileRefused(reason, exc.strerror or str(exc), exc.strerror or str(exc)) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # checked before fdopen, which refuses a folder with its own error
        os.close(fd)
        raise FileRefused("folder" if stat.S_ISDIR(info.st_mode) else "special", "not a regular file")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > limit:
            raise FileRefused("too large", f"{info.st_size:,} bytes, more than the {limit:,} allowed")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise FileRefused("unreadable", exc.strerror or str(exc), exc.strerror or str(exc)) from None
    if len(data) > limit:  # grew after fstat
        raise FileRefused("too large", f"more than the {limit:,} bytes allowed")
    return data
