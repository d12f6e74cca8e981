"""Reading a file the user names (a spec file, or a file a spec points at): regular files only, bounded.

A spec can name any path, and `read_bytes()` on the wrong one never returns: a FIFO waits for a
writer forever, and /dev/zero or /dev/urandom fill memory. So the file is opened without blocking,
checked with fstat to be a regular file (the same file that is read, not one a rename put there
after a stat), and read up to a size bound.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Passwords, PEM keys and certificates are a few KiB; a bundle of every public root CA is ~200 KiB.
REFERENCED_FILE_LIMIT = 1 << 20
# A spec of 5,000 entities is under 1 MiB.
SPEC_FILE_LIMIT = 16 << 20


class UnreadableFile(Exception):
    """Why a file cannot be read, in the user's words (the path is the caller's to add)."""


def size_text(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def read_regular_file(path: Path, limit: int = REFERENCED_FILE_LIMIT) -> bytes:
    """The bytes of `path` when it is a regular file of at most `limit` bytes; UnreadableFile otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    except ValueError:  # a NUL in the path: no file can have that name
        raise UnreadableFile("the path holds a NUL character") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFile("it is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("it is not a regular file (a pipe, socket or device); tlsgen reads only regular files")
        too_big = UnreadableFile(f"it is larger than {size_text(limit)}, the most tlsgen reads from such a file")
        if info.st_size > limit:
            raise too_big
        chunks, size = [], 0
        while size <= limit:  # the file may have grown since fstat
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise too_big
        return b"".join(chunks)
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
