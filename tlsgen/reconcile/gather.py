"""The facts a plan is made from, gathered before any decision: out/'s files (each read once) and
what `.tlsgen/` remembers (state, journal, salt). cert-manager's gatherer shape: no decisions here.
"""

from __future__ import annotations

import os
import stat

from .outdir import Current, OutDir, os_errors
from .state import FileRecord, Stored, load


class Gathered:
    def __init__(self, out: OutDir):
        self.out = out
        self.stored: Stored = load(out)
        self._files: dict[str, Current] = {}

    @property
    def records(self) -> dict[str, FileRecord]:
        return self.stored.state.files

    def current(self, rel: str) -> Current:
        """out/'s file at `rel`, read once per plan."""
        if rel not in self._files:
            self._files[rel] = self.out.read(rel)
        return self._files[rel]

    def directory(self, rel: str) -> Current | None:
        """A real directory at `rel` (its mode and owner), or None: missing, a symlink, or not a directory."""
        path = self.out.path(rel)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            with os_errors(path, "read"):
                raise exc
        if not stat.S_ISDIR(info.st_mode):
            return None
        return Current(True, None, uid=info.st_uid, gid=info.st_gid, mode=stat.S_IMODE(info.st_mode))

    def ours(self, rel: str) -> bool:
        """tlsgen made this file: the state records it, or an interrupted apply set out to write it."""
        return rel in self.records or rel in self.stored.journal.paths
