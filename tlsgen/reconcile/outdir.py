"""The output directory: paths that cannot escape it, atomic writes, and the apply lock.

Every write goes to a temp file in the target's directory, is fsynced and renamed over the target
(`os.replace` renames the entry itself, so a symlink at the target is replaced, never written
through). Directories below out/ that are symlinks are refused: writing through one could land
anywhere on the machine.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

from ..diagnostics import UserError, display_path

TMP_MARK = ".tlsgen-tmp-"
DIR_MODE = 0o700


@dataclass(frozen=True)
class Current:
    """What is on disk at a managed path right now."""

    exists: bool
    data: bytes | None = None  # None when missing, or when the path is a symlink/not a regular file
    symlink: bool = False
    uid: int | None = None
    gid: int | None = None

    def owned_by(self, owner: tuple[int, int | None] | None) -> bool:
        return owner is None or (self.uid == owner[0] and owner[1] in (None, self.gid))


class OutDir:
    def __init__(self, root: Path):
        self.root = root
        if root.exists() and not root.is_dir():
            raise UserError.single(f"--out {display_path(root)} is a file, not a directory",
                                   "name a directory (it is created when missing)")

    def path(self, rel: str) -> Path:
        """The absolute path of a managed file; `rel` is always a tlsgen-made relative POSIX path."""
        parts = rel.split("/")
        if not rel or rel.startswith("/") or ".." in parts or "" in parts:
            raise ValueError(f"not a path inside out/: {rel!r}")  # names are validated; this is a bug guard
        return Path(os.path.join(self.root, rel))

    def read(self, rel: str) -> Current:
        path = self.path(rel)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return Current(False)
        except NotADirectoryError:
            return Current(False)
        if stat.S_ISLNK(info.st_mode):
            return Current(True, None, symlink=True)
        if not stat.S_ISREG(info.st_mode):
            return Current(True, None)
        with open(path, "rb") as f:
            return Current(True, f.read(), uid=info.st_uid, gid=info.st_gid)

    def check_dirs(self, rel: str) -> None:
        """Refuse a path whose directories inside out/ include a symlink (it could point anywhere)."""
        current = self.root
        for part in PurePosixPath(rel).parts[:-1]:
            current = current / part
            if current.is_symlink():
                raise UserError.single(
                    f"{display_path(current)} is a symlink; tlsgen never writes through symlinks inside its output",
                    "replace it with a real directory, or remove it and let apply create it")
            if current.exists() and not current.is_dir():
                raise UserError.single(f"{display_path(current)} is a file where tlsgen needs a directory",
                                       "move it away")

    def make_dirs(self, rel: str, owner: tuple[int, int | None] | None = None) -> None:
        """Create the directories of `rel` (0700); `owner` gets the file's own directory."""
        self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        current = self.root
        for part in PurePosixPath(rel).parts[:-1]:
            current = current / part
            if not current.exists():
                current.mkdir(mode=DIR_MODE)
                os.chmod(current, DIR_MODE)  # mkdir's mode is filtered by the umask
        if owner is not None and current != self.root:
            _chown(current, owner)

    def write(self, rel: str, data: bytes, mode: int, owner: tuple[int, int | None] | None = None) -> None:
        self.check_dirs(rel)
        self.make_dirs(rel, owner)
        target = self.path(rel)
        tmp = target.with_name(f".{target.name}{TMP_MARK}{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        try:
            os.fchmod(fd, mode)
            if owner is not None:
                _chown(fd, owner, tmp)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, target)
        _fsync_dir(target.parent)

    def remove(self, rel: str) -> None:
        self.check_dirs(rel)
        target = self.path(rel)
        try:
            os.unlink(target)  # unlinks a symlink itself, never its target
        except FileNotFoundError:
            return
        _fsync_dir(target.parent)

    def remove_empty_dirs(self, rels: list[str]) -> None:
        """Remove directories tlsgen made (entity, kind, cas) once nothing is left in them."""
        dirs = set()
        for rel in rels:
            parts = PurePosixPath(rel).parts[:-1]
            for i in range(len(parts), 0, -1):
                dirs.add(PurePosixPath(*parts[:i]))
        for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            path = self.root.joinpath(*d.parts)
            if path.is_dir() and not path.is_symlink():
                try:
                    path.rmdir()
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise

    def clean_temp_files(self) -> None:
        """Temp files left by an apply that was killed mid-write."""
        if not self.root.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
            for name in filenames:
                if TMP_MARK in name:
                    os.unlink(os.path.join(dirpath, name))

    @contextmanager
    def lock(self, timeout: float, notify=lambda msg: print(msg, file=sys.stderr)) -> Iterator[None]:
        """Hold an exclusive flock on out/.tlsgen/ for the whole plan-and-apply.

        The kernel drops a flock when its holder dies, so a killed apply never leaves a stale lock. The
        lock is on the directory itself: no lock file whose bytes or mtime would change on a no-op apply.
        """
        self.check_dirs(".tlsgen/x")
        self.make_dirs(".tlsgen/x")
        fd = os.open(self.path(".tlsgen"), os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                notify(f"waiting for another tlsgen apply on {display_path(self.root)} to finish…")
                deadline = time.monotonic() + timeout
                while True:
                    time.sleep(0.1)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise UserError.single(
                                f"{display_path(self.root)} is locked by another tlsgen apply "
                                f"for more than {timeout:.0f}s", "wait for it to finish, or stop it") from None
            yield
        finally:
            os.close(fd)  # closing releases the flock


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chown(target: Path | int, owner: tuple[int, int | None], shown: Path | None = None) -> None:
    path = shown or target
    try:
        if isinstance(target, int):
            os.fchown(target, owner[0], -1 if owner[1] is None else owner[1])
        else:
            os.chown(target, owner[0], -1 if owner[1] is None else owner[1], follow_symlinks=False)
    except PermissionError:
        raise UserError.single(f"cannot chown {display_path(path)} to {owner[0]}"
                               f"{'' if owner[1] is None else ':' + str(owner[1])}: permission denied",
                               "run apply with the right to chown (e.g. as root), or remove owner") from None
