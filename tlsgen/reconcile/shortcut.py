"""A no-op apply that costs what re-hashing out/ costs.

Most applies in a pipeline change nothing. Proving that the slow way means parsing the spec,
importing pydantic and cryptography and planning every file: about a second for 500 clients. An
apply that writes the state also records here what that plan depended on: tlsgen's version, the
spec files and every file they reference (by hash), the environment variables they read (by HMAC),
the user it ran as, the options, and the earliest moment a certificate falls due. The next apply
with no options checks those first, then re-hashes every managed file against the state and checks
modes and owners; when everything matches, nothing could have changed the plan, and it stops there.
Anything that does not match (or cannot be read) simply takes the ordinary path.

As cheaply, before the spec is read, it guesses the RSA key type a first apply will make
(first_apply_rsa), so that apply can start making keys on a core that would otherwise wait.

Only the standard library is imported here: that is the point.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from collections import Counter
from datetime import datetime
from pathlib import Path

from .. import __version__

_OUTPUT_LINE = re.compile(rb"^output:[ \t]*['\"]?([^'\"#\r\n]+?)['\"]?[ \t]*(#.*)?$", re.M)


def record(spec_arg: Path, out_arg: Path | None, spec, plan, euid: int) -> dict | None:
    """What the no-op check needs, for the state this apply writes; None where it cannot be sure. (The
    caller records nothing when there are warnings: every apply must print them.)"""
    if spec.warnings or plan.rollovers or plan.next_due is None:
        return None  # a warning to print, or a rollover to report: take the ordinary path
    from .. import layout
    from .plan import WriteFile

    salt = plan.salt
    return {
        "version": __version__, "cwd": os.getcwd(), "spec": os.path.abspath(spec_arg),
        "out_option": os.path.abspath(out_arg) if out_arg is not None else None, "euid": euid,
        "out": str(spec.output), "spec_files": _spec_files(Path(spec_arg)),
        "inputs": {os.path.abspath(p): _sha256(p) for p in spec.inputs},
        "environment": {name: _hmac(salt, os.environ.get(name, "").encode()) for name in spec.environment},
        "due": plan.next_due.isoformat(),
        # The files the spec makes (each is kept or written by this apply), as a digest of their paths,
        # and each one's mode by its role (a table of 60,000 paths would double a large state).
        "files": _paths_digest([*plan.kept, *(s.artifact.path for s in plan.of_type(WriteFile))]),
        "modes": {role.value: layout.mode_of(role) for role in layout.Role},
        "directories": {d.path: d.mode for d in layout.directories(spec)},
        "owners": {e.dir: list(e.owner) for e in spec.entities.values() if e.owner is not None},
    }


def unchanged(spec_arg: Path, out_arg: Path | None, euid: int, now: datetime) -> str | None:
    """The output directory as apply would show it, if an apply now would change nothing; else None."""
    for out in _candidates(spec_arg, out_arg):
        try:
            found = _check(out, spec_arg, out_arg, euid, now)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            found = None
        if found is not None:
            return found
    return None


def _check(out: Path, spec_arg: Path, out_arg: Path | None, euid: int, now: datetime) -> str | None:
    tlsgen_dir = out / ".tlsgen"
    if (tlsgen_dir / "journal.json").exists():
        return None
    state = json.loads((tlsgen_dir / "state.json").read_bytes())
    seen = state.get("shortcut")
    if not seen or state.get("rollovers"):
        return None
    if (seen["version"], seen["cwd"], seen["spec"], seen["out_option"], seen["euid"]) != \
            (__version__, os.getcwd(), os.path.abspath(spec_arg),
             os.path.abspath(out_arg) if out_arg is not None else None, euid):
        return None
    if now >= datetime.fromisoformat(seen["due"]) or seen["spec_files"] != _spec_files(spec_arg):
        return None
    if any(_sha256(Path(p)) != digest for p, digest in seen["inputs"].items()):
        return None
    salt = (tlsgen_dir / "salt").read_bytes()
    if any(_hmac(salt, os.environ.get(name, "").encode()) != value for name, value in seen["environment"].items()):
        return None
    files = state["files"]
    if _paths_digest(files) != seen["files"]:
        return None
    owners = {part: tuple(owner) for part, owner in seen["owners"].items()}
    for rel, mode in seen["directories"].items():
        if _attributes_hold(out / rel if rel else out, mode, owners.get(rel), stat.S_ISDIR) is None:
            return None
    root = os.fspath(out)
    for rel, record in files.items():  # most of a no-op apply: str paths, and a read sized by the lstat
        path = f"{root}/{rel}"
        part = record.get("part", record.get("owner", ""))
        size = _attributes_hold(path, seen["modes"][record["role"]], owners.get(part), stat.S_ISREG)
        if size is None:
            return None
        data = _read(path, size)
        digest = record["digest"]
        made = "hmac:" + _hmac(salt, data) if digest.startswith("hmac:") else "sha256:" + hashlib.sha256(data).hexdigest()
        if made != digest:
            return None
    return seen["out"]


def _paths_digest(paths) -> str:
    """sha256 of the sorted paths, a line each: hashed path by path (60,000 joined were 8 MB twice)."""
    digest = hashlib.sha256()
    for i, path in enumerate(sorted(paths)):
        digest.update(f"\n{path}".encode() if i else path.encode())
    return digest.hexdigest()


def _attributes_hold(path: Path | str, mode: int, owner: tuple | None, kind) -> int | None:
    """The size of what is at `path` if it is of that kind, mode and owner; else None."""
    info = os.lstat(path)
    if not kind(info.st_mode) or stat.S_IMODE(info.st_mode) != mode:
        return None
    if owner is None or (info.st_uid == owner[0] and owner[1] in (None, info.st_gid)):
        return info.st_size
    return None


def first_apply_rsa(spec_arg: Path, out_arg: Path | None) -> str | None:
    """The RSA key type a first apply will most likely make, guessed before the spec is read: the
    one its files name most, when no output it could have has a state yet (a first apply makes a key
    for every CA and entity). Only a guess (a comment may name it too): apply starts a few keys of it
    on a core that would wait while the spec is read (commands/apply.py), and keeps those it needs."""
    try:
        if any(os.path.lexists(out / ".tlsgen" / "state.json") for out in _candidates(spec_arg, out_arg)):
            return None
        named = Counter()
        for file in _spec_files(spec_arg):
            named.update(m.decode() for m in _RSA_TYPE.findall(Path(file).read_bytes()))
    except (OSError, ValueError):
        return None  # reading the spec will say what is wrong
    return named.most_common(1)[0][0] if named else None


_RSA_TYPE = re.compile(rb"\brsa-\d+\b")  # which sizes tlsgen makes is pki's to say (keys_guessed)


def _candidates(spec_arg: Path, out_arg: Path | None) -> list[Path]:
    """Where the output could be without parsing the spec: --out; else a top-level `output:` line of a
    spec file (checked later against the recorded hashes of those very files); else out/."""
    if out_arg is not None:
        return [out_arg]
    found = []
    for file in _spec_files(spec_arg):
        match = _OUTPUT_LINE.search(Path(file).read_bytes()) if os.path.isfile(file) else None
        if match:
            found.append(Path(os.path.normpath(Path(file).parent / match.group(1).decode(errors="replace"))))
    return found + [Path("out")]


def _spec_files(spec_arg: Path) -> list[str]:
    spec_arg = Path(spec_arg)
    if spec_arg.is_dir():
        return sorted(os.path.abspath(p) for p in spec_arg.iterdir() if p.suffix in (".yaml", ".yml"))
    return [os.path.abspath(spec_arg)]


def _read(path: Path | str, size: int = 1 << 20) -> bytes:
    """The file's bytes; `size` is what it is expected to hold: a read of one more byte shows its end
    without a second read, and no 1 MB buffer is made for a file of 2 KB."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        chunks = []
        while chunk := os.read(fd, size + 1):
            chunks.append(chunk)
            if len(chunk) <= size:
                break  # a regular file: a read short of what was asked is its end
            size = 1 << 20
        return b"".join(chunks)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    return hashlib.sha256(_read(Path(path))).hexdigest()


def _hmac(salt: bytes, data: bytes) -> str:
    return hmac.new(salt, data, hashlib.sha256).hexdigest()

