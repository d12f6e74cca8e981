"""`.tlsgen/state.json`: every managed file, its digest, why it exists and what it was made from.

No secrets: files that hold a password or key are recorded by an HMAC keyed with a per-output salt
(`.tlsgen/salt`, 0600), so state.json can be read (or committed by mistake) without offering a
hash to brute-force a user's password. `made_from` holds fingerprints and settings only.

The journal (`.tlsgen/journal.json`) lists the paths applies are about to write or delete, and the
marks of their temp files. It is written before an apply's first change and removed only after a
completed apply has written the state; an apply that follows a killed one adds to it, so any number
of kills still leaves every file an apply may have written known as tlsgen's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Callable, Iterable, Iterator

from ..diagnostics import UserError, display_path
from ..layout import TLSGEN_DIR
from .outdir import OutDir

FORMAT = 2  # 2: what format 1 called a record's "owner" (the part of out/ it belongs to) is "part"
STATE = f"{TLSGEN_DIR}/state.json"
JOURNAL = f"{TLSGEN_DIR}/journal.json"
SALT = f"{TLSGEN_DIR}/salt"
_DAMAGED_HINT = "restore it from a backup, or remove out/ and apply again (keys are made anew)"


@dataclass(frozen=True, slots=True)
class FileRecord:
    part: str  # "cas/<ca>", "<kind>/<name>", or "" for files of the whole output
    role: str  # what the file is: key, certificate, chain, keystore, password, config, ...
    digest: str  # sha256 of the bytes, or an HMAC for secret-bearing files
    made_from: dict = field(default_factory=dict)  # fingerprints and settings it was made from
    cert_pem: str | None = None  # certificates are public: kept so a deleted one is restored as it was

    def as_json(self) -> dict:
        doc = {"part": self.part, "role": self.role, "digest": self.digest}
        if self.made_from:
            doc["made_from"] = self.made_from
        if self.cert_pem is not None:
            doc["cert_pem"] = self.cert_pem
        return doc


ROLLOVER_STEPS = ("trust", "issue", "retire")  # what each apply of a CA rollover does, in order


@dataclass(frozen=True, slots=True)
class Rollover:
    """A CA rollover in progress: the step last done, and the two certificates it moves between."""

    ca: str
    step: str  # "trust" (new CA made and trusted beside the old) or "issue" (all below reissued under it)
    started: str  # ISO 8601, UTC
    old: str  # SHA-256 fingerprint of the old CA certificate
    new: str | None  # ... of the new one; None until the apply that starts the rollover has made it
    old_cert_pem: str  # public: the old certificate, trusted until the retire step
    restart: tuple[str, ...] = ()  # compose services whose mounted files the last step changed
    why: str = ""  # what started it, in words

    @property
    def number(self) -> int:
        return ROLLOVER_STEPS.index(self.step) + 1

    @property
    def next_step(self) -> str:
        return ROLLOVER_STEPS[self.number]

    def as_json(self) -> dict:
        return {"ca": self.ca, "step": self.step, "started": self.started, "old": self.old, "new": self.new,
                "old_cert_pem": self.old_cert_pem, "restart": list(self.restart), "why": self.why}

    @classmethod
    def from_json(cls, doc) -> "Rollover":
        if not isinstance(doc, dict) or doc.get("step") not in ROLLOVER_STEPS[:2]:
            raise ValueError("a rollover record is not an object with a step of trust or issue")
        restart = doc.get("restart", [])
        if not isinstance(restart, list):
            raise ValueError("a rollover's restart is not a list")
        new = doc.get("new")
        return cls(ca=_text(doc["ca"]), step=doc["step"], started=_text(doc["started"]), old=_text(doc["old"]),
                   new=None if new is None else _text(new), old_cert_pem=_text(doc["old_cert_pem"]),
                   restart=tuple(map(_text, restart)), why=_text(doc.get("why", "")))


@dataclass(frozen=True, slots=True)
class Generation:
    """What Strimzi was last given for one CA role, and the generations that told it so."""

    ca: str
    cert_generation: int  # strimzi.io/ca-cert-generation: raised whenever the certificate Secret changes
    key_generation: int  # strimzi.io/ca-key-generation: raised whenever the key changes
    certs: tuple[str | None, ...]  # fingerprints of the certificates in the cert Secret (None: still to be made)
    key: str | None  # fingerprint of the key

    def as_json(self) -> dict:
        return {"ca": self.ca, "cert_generation": self.cert_generation, "key_generation": self.key_generation,
                "certs": list(self.certs), "key": self.key}

    @classmethod
    def from_json(cls, doc) -> "Generation":
        if not isinstance(doc, dict) or not isinstance(doc.get("certs"), list):
            raise ValueError("a Strimzi generation record is not an object with a list of certs")
        key = doc.get("key")
        return cls(_text(doc["ca"]), _int(doc["cert_generation"]), _int(doc["key_generation"]),
                   tuple(map(_text, doc["certs"])), None if key is None else _text(key))


@dataclass(frozen=True, slots=True)
class State:
    serial: int = 0
    files: dict[str, FileRecord] = field(default_factory=dict)
    rollovers: dict[str, Rollover] = field(default_factory=dict)  # by CA name
    strimzi: dict[str, Generation] = field(default_factory=dict)  # by Strimzi CA role: "cluster", "clients"
    shortcut: dict | None = field(default=None, compare=False)  # what the no-op check needs (shortcut.py)

    def to_json(self) -> bytes:
        return b"".join(self.json_chunks())

    def json_chunks(self) -> Iterator[bytes]:
        """The state as JSON, in pieces that OutDir.write streams to disk, a line per file (an indented
        dump of 60,000 records took 1.3 s and 140 MB in json's pure-Python encoder). The same layout
        as StateWriter's: the files first, then what is known only at the end of an apply."""
        yield _FILES_OPEN
        for member in _one_per_line(_member(path, self.files[path]) for path in sorted(self.files)):
            yield member.encode()
        yield _tail(self.serial, self.rollovers, self.strimzi, self.shortcut)

    @classmethod
    def from_json(cls, data: bytes, where: str) -> "State":
        try:
            doc = json.loads(data)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            if doc.get("format") not in (1, FORMAT):
                raise UserError.single(f"{where}: state format {doc.get('format')!r} is not {FORMAT}",
                                       "it was written by another tlsgen version")
            files = doc.get("files", {})
            if not isinstance(files, dict):
                raise ValueError("'files' is not an object")
            rollovers = doc.get("rollovers", {})
            if not isinstance(rollovers, dict):
                raise ValueError("'rollovers' is not an object")
            strimzi = doc.get("strimzi", {})
            if not isinstance(rollovers, dict) or not isinstance(strimzi, dict):
                raise ValueError("'rollovers' and 'strimzi' must be objects")
            return cls(serial=_int(doc.get("serial", 0)), files={_text(p): _record(r) for p, r in files.items()},
                       rollovers={_text(ca): Rollover.from_json(r) for ca, r in rollovers.items()},
                       strimzi={_text(role): Generation.from_json(g) for role, g in strimzi.items()})
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise UserError.single(f"{where}: the state file is damaged ({exc})", _DAMAGED_HINT) from None


_FILES_OPEN = b'{\n "files": {'


def _member(path: str, record: FileRecord) -> str:
    return f"{json.dumps(path)}: {json.dumps(record.as_json(), sort_keys=True)}"


def _tail(serial: int, rollovers: dict, strimzi: dict, shortcut: dict | None) -> bytes:
    """The end of the files, then the state's other members."""
    head: dict = {"format": FORMAT, "serial": serial}
    if rollovers:
        head["rollovers"] = {ca: rollovers[ca].as_json() for ca in sorted(rollovers)}
    if strimzi:
        head["strimzi"] = {role: strimzi[role].as_json() for role in sorted(strimzi)}
    if shortcut:
        head["shortcut"] = shortcut
    return ("\n }" + "".join(f',\n "{k}": {json.dumps(v, sort_keys=True)}' for k, v in head.items()) + "\n}\n").encode()


class StateWriter:
    """The state as apply makes it: each file's record written as soon as it is known (a large apply
    never holds 60,000 of them), then the serial, rollovers and shortcut once everything is done."""

    def __init__(self, append: Callable[[bytes], None]):
        self._append, self._pending, self._held, self._count, self.finished = append, [], 0, 0, False
        append(_FILES_OPEN)

    def add(self, path: str, record: FileRecord) -> None:
        line = _line(_member(path, record), first=not self._count).encode()
        self._count += 1
        self._pending.append(line)
        self._held += len(line)
        if self._held >= 1 << 16:  # written in pieces of ~64 KB: neither all of it nor a write per record
            self._flush()

    def finish(self, serial: int, rollovers: dict, strimzi: dict, shortcut: dict | None) -> None:
        self._pending.append(_tail(serial, rollovers, strimzi, shortcut))
        self._flush()
        self.finished = True

    def _flush(self) -> None:
        self._append(b"".join(self._pending))
        self._pending, self._held = [], 0


@contextmanager
def state_writer(out: OutDir) -> Iterator[StateWriter]:
    """The state file, written while the block runs and put in place when it ends: the last change
    an apply makes. An error in the block leaves the previous state as it was."""
    with out.writing(STATE, 0o600) as append:
        writer = StateWriter(append)
        yield writer
        if not writer.finished:
            raise RuntimeError("the state was left unfinished")  # a bug in tlsgen: never a state without its head


def _one_per_line(items: Iterable[str]) -> Iterator[str]:
    """JSON members or elements, each on its own line with commas between: a file's record or path
    per line, written by json's C encoder (which `indent` would replace with its pure-Python one)."""
    for i, item in enumerate(items):
        yield _line(item, first=not i)


def _line(item: str, first: bool) -> str:
    return f'{"" if first else ","}\n  {item}'


def _record(doc) -> FileRecord:
    if not isinstance(doc, dict):
        raise ValueError("a file record is not an object")
    made_from = doc.get("made_from", {})
    if not isinstance(made_from, dict):
        raise ValueError("a file record's made_from is not an object")
    cert_pem = doc.get("cert_pem")
    return FileRecord(part=_text(doc["part"] if "part" in doc else doc["owner"]), role=_text(doc["role"]),
                      digest=_text(doc["digest"]), made_from=made_from,
                      cert_pem=None if cert_pem is None else _text(cert_pem))


def _text(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, found {type(value).__name__}")
    return value


def _int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, found {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Journal:
    paths: frozenset[str] = frozenset()  # files applies set out to write or delete
    marks: frozenset[str] = frozenset()  # the temp-file marks of those applies (outdir.OutDir.mark)
    present: bool = False  # a journal file is there (to be removed once an apply completes)

    def json_chunks(self, adding: Iterable[str] = ()) -> Iterator[bytes]:
        """The journal as JSON, with `adding` among its paths, in pieces that OutDir.write streams: the
        60,000 paths of a large apply are neither held as a set nor joined into one text."""
        yield f'{{\n "marks": {json.dumps(sorted(self.marks))},\n "paths": ['.encode()
        paths = chain(sorted(self.paths), (path for path in adding if path not in self.paths))
        for member in _one_per_line(json.dumps(path) for path in paths):
            yield member.encode()
        yield b"\n ]\n}\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> "Journal":
        try:
            doc = json.loads(data)
            paths, marks = doc.get("paths", []), doc.get("marks", [])
            if not isinstance(paths, list) or not isinstance(marks, list):
                raise ValueError("'paths' and 'marks' must be lists")
            return cls(frozenset(map(_text, paths)), frozenset(map(_text, marks)), present=True)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise UserError.single(
                f"{where}: the journal of an interrupted apply is damaged ({exc})",
                "it lists the files an interrupted apply wrote; if none was interrupted, remove it") from None


class Digester:
    """sha256 for ordinary files, HMAC-SHA256 with the output's salt for secret-bearing ones."""

    def __init__(self, salt: bytes):
        self.salt = salt

    def __call__(self, data: bytes, secret: bool) -> str:
        if secret:
            return "hmac:" + hmac.new(self.salt, data, hashlib.sha256).hexdigest()
        return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    """Everything reconciliation reads from `.tlsgen/`."""

    state: State
    journal: Journal
    salt: bytes = field(repr=False)
    salt_is_new: bool

    @property
    def digest(self) -> Digester:
        return Digester(self.salt)


def load(out: OutDir) -> Stored:
    state_file = out.read(STATE)
    state = State.from_json(state_file.data, display_path(out.path(STATE))) if state_file.data else State()
    journal_file = out.read(JOURNAL)
    journal = Journal.from_json(journal_file.data, display_path(out.path(JOURNAL))) \
        if journal_file.data is not None else Journal()
    salt_file = out.read(SALT)
    if salt_file.data and len(salt_file.data) >= 16:
        return Stored(state, journal, salt_file.data, False)
    # A lost salt only makes every secret file's record unverifiable: their content is checked instead.
    return Stored(state, journal, secrets.token_bytes(32), True)


def write_journal(out: OutDir, journal: Journal, adding: Iterable[str] = ()) -> None:
    """`adding`: the paths this apply sets out to write or delete, once each."""
    out.write(JOURNAL, journal.json_chunks(adding), 0o600)


def write_state(out: OutDir, state: State) -> None:
    out.write(STATE, state.json_chunks(), 0o600)


def write_salt(out: OutDir, salt: bytes) -> None:
    out.write(SALT, salt, 0o600)


def clear_journal(out: OutDir) -> None:
    out.remove(JOURNAL)
