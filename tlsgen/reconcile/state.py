"""`.tlsgen/state.json`: every managed file, its digest, why it exists and what it was made from.

No secrets: files that hold a password or key are recorded by an HMAC keyed with a per-output salt
(`.tlsgen/salt`, 0600), so state.json can be read (or committed by mistake) without offering a
hash to brute-force a user's password. `made_from` holds fingerprints and settings only.

The journal (`.tlsgen/journal.json`) lists the paths an apply is about to write or delete. It is
written before the first change and removed after the state: if an apply is killed in between,
the next one knows those files are its own even though the state does not record them yet.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field

from ..diagnostics import UserError, display_path
from .outdir import OutDir

FORMAT = 1
STATE = ".tlsgen/state.json"
JOURNAL = ".tlsgen/journal.json"
SALT = ".tlsgen/salt"


@dataclass(frozen=True)
class FileRecord:
    owner: str  # "cas/<ca>", "<kind>/<name>", or "" for files of the whole output
    role: str  # what the file is: key, certificate, chain, keystore, password, config, ...
    digest: str  # sha256 of the bytes, or an HMAC for secret-bearing files
    made_from: dict = field(default_factory=dict)  # fingerprints and settings it was made from
    cert_pem: str | None = None  # certificates are public: kept so a deleted one is restored as it was


@dataclass
class State:
    serial: int = 0
    files: dict[str, FileRecord] = field(default_factory=dict)

    def to_json(self) -> bytes:
        doc = {"format": FORMAT, "serial": self.serial,
               "files": {p: {k: v for k, v in asdict(r).items() if v not in (None, {})}
                         for p, r in sorted(self.files.items())}}
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> "State":
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise UserError.single(f"{where}: state format {doc.get('format')!r} is not {FORMAT}",
                                       "it was written by another tlsgen version")
            return cls(serial=int(doc.get("serial", 0)),
                       files={p: FileRecord(**r) for p, r in doc.get("files", {}).items()})
        except (ValueError, TypeError, AttributeError) as exc:
            raise UserError.single(f"{where}: the state file is damaged ({exc})",
                                   "restore it, or delete it and the files tlsgen made, then apply again") from None


class Digester:
    """sha256 for ordinary files, HMAC-SHA256 with the output's salt for secret-bearing ones."""

    def __init__(self, salt: bytes):
        self.salt = salt

    def __call__(self, data: bytes, secret: bool) -> str:
        if secret:
            return "hmac:" + hmac.new(self.salt, data, hashlib.sha256).hexdigest()
        return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Stored:
    """Everything reconciliation reads from `.tlsgen/`."""

    state: State
    journal: set[str]
    salt: bytes
    salt_is_new: bool

    @property
    def digest(self) -> Digester:
        return Digester(self.salt)


def load(out: OutDir) -> Stored:
    state_file = out.read(STATE)
    state = State.from_json(state_file.data, display_path(out.path(STATE))) if state_file.data else State()
    journal_file = out.read(JOURNAL)
    journal: set[str] = set()
    if journal_file.data:
        try:
            journal = set(json.loads(journal_file.data).get("paths", []))
        except ValueError:
            journal = set()  # a journal torn by a crash names nothing we can rely on
    salt_file = out.read(SALT)
    if salt_file.data and len(salt_file.data) >= 16:
        return Stored(state, journal, salt_file.data, False)
    return Stored(state, journal, secrets.token_bytes(32), True)


def write_journal(out: OutDir, paths: list[str]) -> None:
    out.write(JOURNAL, (json.dumps({"paths": sorted(paths)}, indent=2) + "\n").encode(), 0o600)


def write_state(out: OutDir, state: State) -> None:
    out.write(STATE, state.to_json(), 0o600)


def write_salt(out: OutDir, salt: bytes) -> None:
    out.write(SALT, salt, 0o600)


def clear_journal(out: OutDir) -> None:
    out.remove(JOURNAL)
