"""Desired artifacts, compared with out/ and its state: the plan.

Planning reads and hashes; it never generates a key, signs or serialises a store. Those happen in
`apply`, for exactly the files the plan lists. Decisions are made on content where content is the
truth (does this key file hold a key of the right type? does this certificate carry the wanted
SANs?) and on the state's records for what content cannot show (the validity setting, the issuer's
name, whether a file was edited since tlsgen wrote it).
"""

from __future__ import annotations

import functools
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ..crypto import pki, stores
from .policies import CertFacts, CertWant, reissue_reasons
from ..diagnostics import Diagnostic, UserError, did_you_mean, display_path
from ..model import CA, Entity, Spec
from .outdir import Current, OutDir
from .plan import Action, Change, Plan, Reason
from ..render import Passwords, is_secret, render_compose, render_entity_files
from .state import FileRecord, State, Stored
from .state import load as load_stored

PASSWORD_ALPHABET = string.ascii_letters + string.digits  # safe unquoted in env files, compose and KAFKA_OPTS
PASSWORD_LENGTH = 32
STORE_SUFFIX = {"pkcs12": "p12", "jks": "jks", "pem": "pem"}
PUBLIC, PRIVATE = 0o644, 0o600
# Which recorded input, when it differs, explains a file's update.
_INPUT_REASONS = {"cert": "cert_reissued", "chain": "cert_reissued", "key": "key_rotated",
                  "trust": "trust_changed", "password": "password_changed"}


@dataclass(frozen=True)
class Options:
    now: datetime
    renew: frozenset[str] = frozenset()
    rotate: frozenset[str] = frozenset()


@dataclass
class KeyMaterial:
    key_type: str
    pem: bytes | None  # the PKCS#8 PEM; None until apply generates a new key
    fp: str | None
    new_reasons: tuple[Reason, ...] = ()  # why a new key is made (empty for a first key)
    _obj: object = None

    @property
    def is_new(self) -> bool:
        return self.pem is None

    def obj(self):
        if self._obj is None:
            self._obj = pki.load_key(self.pem)
        return self._obj


@dataclass
class CertMaterial:
    want: CertWant | None  # None for an imported CA
    cert: x509.Certificate | None  # None until apply issues it
    action: Action | None = None
    reasons: tuple[Reason, ...] = ()
    _derived: tuple = field(default=(None, None, None), repr=False)  # (cert, fp, pem) computed once per cert

    def _of_cert(self) -> tuple:
        if self.cert is not None and self._derived[0] is not self.cert:  # apply sets `cert` once it is issued
            self._derived = (self.cert, pki.cert_fingerprint(self.cert), pki.cert_pem(self.cert))
        return self._derived if self.cert is not None else (None, None, None)

    @property
    def fp(self) -> str | None:
        return self._of_cert()[1]

    @property
    def pem(self) -> bytes | None:
        return self._of_cert()[2]


@dataclass
class FileWant:
    rel: str
    owner: str
    role: str
    secret: bool
    made_from: dict
    content: bytes | None  # None: built in apply (new material, or a store)
    build: Callable[[], bytes] | None = None
    holds: Callable[[bytes], bool] | None = None  # stores: does this file hold what it should?
    cert_pem: str | None = None
    material: tuple[Action | None, tuple[Reason, ...]] | None = None  # keys and certificates: their decision

    @property
    def mode(self) -> int:
        return PRIVATE if self.secret else PUBLIC

    @property
    def pending(self) -> bool:
        return _has_none(self.made_from)


@dataclass
class Work:
    """What apply needs: the materials to make, the files to write and delete, the state to record."""

    spec: Spec
    stored: Stored
    keys: dict[str, KeyMaterial]
    certs: dict[str, CertMaterial]
    passwords: dict[str, str]
    writes: list[str]
    deletes: list[str]
    records: dict[str, FileRecord]  # for files that stay as they are
    state_changed: bool
    now: datetime


def make_plan(spec: Spec, out: OutDir, options: Options) -> Plan:
    return _Planner(spec, out, options).plan()


class _Planner:
    def __init__(self, spec: Spec, out: OutDir, options: Options):
        self.spec, self.out, self.options = spec, out, options
        self.stored = load_stored(out)
        self.state = self.stored.state
        self.digest = self.stored.digest
        self.keys: dict[str, KeyMaterial] = {}
        self.certs: dict[str, CertMaterial] = {}
        self.passwords: dict[str, str] = {}
        self.conflicts: list[str] = []
        self.known_owners = {r.owner for r in self.state.files.values()}
        self._current: dict[str, Current] = {}
        self.owners = {e.dir: e.owner for e in spec.entities.values() if e.owner is not None}

    def current(self, rel: str) -> Current:
        """out/'s file at `rel`, read once per plan."""
        if rel not in self._current:
            self._current[rel] = self.out.read(rel)
        return self._current[rel]

    # --- the plan ---------------------------------------------------------------------------------

    def plan(self) -> Plan:
        self.check_names()
        for ca in self.spec.ca_order():
            self.plan_ca(ca)
        for entity in self.spec.entities.values():
            self.plan_entity_material(entity)
        wants = self.all_files()
        changes, writes, records = [], [], {}
        state_changed = False
        position = {w.rel: i for i, w in enumerate(wants)}
        for want in wants:
            change = self.compare(want)
            if change is None:
                record = self.record_for(want)
                records[want.rel] = record
                state_changed |= self.state.files.get(want.rel) != record
            else:
                changes.append(change)
                writes.append(want.rel)
        desired = {w.rel for w in wants}
        live_owners = {"", *(ca.dir for ca in self.spec.cas.values()), *(e.dir for e in self.spec.entities.values())}
        deletes = []
        for rel, record in sorted(self.state.files.items()):
            if rel in desired:
                continue
            state_changed = True
            if not self.current(rel).exists:
                continue  # already gone: only the state forgets it
            reason = Reason.of("not_needed", why=f"the spec no longer needs a {record.role} here") \
                if record.owner in live_owners else Reason.of("removed")
            changes.append(Change(rel, record.owner, Action.DELETE, (reason,)))
            deletes.append(rel)
        if self.conflicts:
            raise UserError(Diagnostic(None, "", f"{display_path(self.out.path(rel))} exists but tlsgen did not make it",
                                       "tlsgen never overwrites files it does not manage: move it away")
                            for rel in self.conflicts)
        order = {owner: i for i, owner in enumerate(["", *(ca.dir for ca in self.spec.ca_order()),
                                                     *(e.dir for e in self.spec.entities.values())])}
        changes.sort(key=lambda c: (order.get(c.owner, len(order)), c.owner, position.get(c.path, len(position)), c.path))
        work = Work(self.spec, self.stored, self.keys, self.certs, self.passwords, writes, deletes, records,
                    state_changed or self.stored.salt_is_new and bool(writes), self.options.now)
        return Plan(str(self.out.root), changes, work)

    def check_names(self) -> None:
        names = [*self.spec.cas, *self.spec.entities]
        problems = []
        for flag, requested in (("--renew", self.options.renew), ("--rotate-key", self.options.rotate)):
            for name in sorted(requested):
                if name not in names:
                    problems.append(Diagnostic(None, "", f"{flag} {name}: no CA or entity of that name",
                                               did_you_mean(name, names)))
                elif name in self.spec.cas and self.spec.cas[name].imported:
                    problems.append(Diagnostic(None, "", f"{flag} {name}: an imported CA is not tlsgen's to "
                                               f"{'rotate' if flag == '--rotate-key' else 'reissue'}",
                                               "import its new certificate instead"))
        if problems:
            raise UserError(problems)

    # --- keys and certificates --------------------------------------------------------------------

    def plan_key(self, name: str, rel: str, key_type: str) -> KeyMaterial:
        current, record = self.read_managed(rel), self.state.files.get(rel)
        reasons: list[Reason] = []
        if name in self.options.rotate:
            reasons.append(Reason.of("rotate_requested"))
        pem, fp, have_type = current.data, None, None
        if pem is not None:
            if record and self.digest(pem, True) == record.digest and "key" in record.made_from:
                fp, have_type = record.made_from["key"], record.made_from.get("type")
            else:
                try:
                    key = pki.load_key(pem)
                    fp, have_type = pki.spki_fingerprint(key), pki.key_type_of(key)
                except (ValueError, TypeError):
                    pem = None
        if pem is None:
            if current.exists:
                reasons.append(Reason.of("symlink" if current.symlink else "edited"))
            elif record is not None:
                reasons.append(Reason.of("deleted"))
        elif have_type != key_type:
            reasons.append(Reason.of("key_type_changed", old=have_type, new=key_type))
        if reasons or pem is None:
            return KeyMaterial(key_type, None, None, tuple(reasons))
        return KeyMaterial(key_type, pem, fp)

    def plan_cert(self, name: str, rel: str, want: CertWant, key: KeyMaterial, issuer: str | None,
                  owner_is_new: Reason) -> CertMaterial:
        current, record = self.read_managed(rel), self.state.files.get(rel)
        cert = None
        if current.data is not None:
            cert = _try_cert(current.data)
        if cert is None and record is not None and record.cert_pem:
            cert = _try_cert(record.cert_pem.encode())  # a deleted or damaged file is restored as it was
        if cert is None:
            if record is None:
                return CertMaterial(want, None, Action.CREATE, (owner_is_new,))
            return CertMaterial(want, None, Action.REPAIR, (Reason.of("deleted"),))
        issuer_mat = self.certs.get(issuer) if issuer else None
        issuer_signed = True
        if issuer_mat is not None and issuer_mat.cert is not None:
            try:
                cert.verify_directly_issued_by(issuer_mat.cert)
            except (InvalidSignature, ValueError, TypeError):  # signature or name mismatch: not this issuer's
                issuer_signed = False
        facts = CertFacts(
            want=want, cert=cert, recorded=record.made_from if record else {}, now=self.options.now,
            key_fp=key.fp, cert_key_fp=pki.spki_fingerprint(cert.public_key()), key_reasons=key.new_reasons,
            issuer_name_reissued=issuer if issuer_mat is not None and issuer_mat.cert is None else None,
            issuer_signed=issuer_signed, renew_requested=name in self.options.renew)
        action, reasons = reissue_reasons(facts)
        if key.is_new and action is None:
            action, reasons = Action.ROTATE, (Reason.of("key_rotated"),)
        if action is not None:
            return CertMaterial(want, None, action, reasons)
        return CertMaterial(want, cert)

    def plan_ca(self, ca: CA) -> None:
        if ca.imported is not None:
            self.certs[ca.name] = CertMaterial(None, pki.load_cert(ca.imported.cert_pem))
            return
        self.keys[ca.name] = self.plan_key(ca.name, f"{ca.dir}/ca.key", ca.key)
        want = CertWant(subject=ca.subject, sans=(), usages=(), issuer=ca.issuer, path_length=ca.path_length,
                        validity=ca.validity, renew_before=ca.renew_before)
        new = Reason.of(_new_reason(ca.dir, ca.dir not in self.known_owners))
        self.certs[ca.name] = self.plan_cert(ca.name, f"{ca.dir}/ca.crt", want, self.keys[ca.name], ca.issuer, new)

    def plan_entity_material(self, e: Entity) -> None:
        self.keys[e.name] = self.plan_key(e.name, f"{e.dir}/{e.name}.key", e.key)
        want = CertWant(subject=e.subject, sans=tuple([f"DNS:{h}" for h in e.hostnames] + [f"IP:{i}" for i in e.ip_addresses]),
                        usages=e.usages, issuer=e.issuer, path_length=None, validity=e.validity,
                        renew_before=e.renew_before)
        new = Reason.of(_new_reason(e.dir, e.dir not in self.known_owners))
        self.certs[e.name] = self.plan_cert(e.name, f"{e.dir}/{e.name}.crt", want, self.keys[e.name], e.issuer, new)
        self.passwords[e.name] = self.plan_password(e)

    def plan_password(self, e: Entity) -> str:
        if e.password is not None:
            return str(e.password)
        # A generated password is kept: take it back from a password file tlsgen wrote, preferring one
        # nobody edited; else any of ours (an apply killed mid-way, or a lost salt).
        ours = []
        for name in ("keystore.password", "key.password", "truststore.password"):
            rel = f"{e.dir}/{name}"
            current, record = self.current(rel), self.state.files.get(rel)
            if not current.data:
                continue
            if record is not None and self.digest(current.data, True) == record.digest:
                return current.data.decode()
            if record is not None or rel in self.stored.journal:
                ours.append(current.data.decode())
        if ours:
            return ours[0]
        return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))

    # --- the files --------------------------------------------------------------------------------

    def all_files(self) -> list[FileWant]:
        return files_of(self.spec, self.keys, self.certs, self.passwords, self.digest)

    def read_managed(self, rel: str) -> Current:
        current = self.current(rel)
        if current.exists and rel not in self.state.files and rel not in self.stored.journal:
            self.conflicts.append(rel)
        return current

    def compare(self, want: FileWant) -> Change | None:
        current, record = self.read_managed(want.rel), self.state.files.get(want.rel)
        owner_new = want.owner not in self.known_owners
        if want.material is not None and want.content is None:  # a key or certificate to make
            action, reasons = want.material
            if not current.exists and record is None:
                action = Action.CREATE
                reasons = reasons or (Reason.of(_new_reason(want.owner, owner_new)),)
            return Change(want.rel, want.owner, action, reasons)
        if not current.exists:
            if record is None:
                reason = Reason.of(_new_reason(want.owner, owner_new))
                return Change(want.rel, want.owner, Action.CREATE, (reason,))
            return Change(want.rel, want.owner, Action.REPAIR, (Reason.of("deleted"), *self.input_reasons(record, want)))
        if current.symlink or current.data is None:
            return Change(want.rel, want.owner, Action.REPAIR, (Reason.of("symlink" if current.symlink else "edited"),))
        untouched = record is not None and self.digest(current.data, want.secret) == record.digest
        owner = self.owners.get(want.owner)
        if not current.owned_by(owner):
            text = f"{owner[0]}" + (f":{owner[1]}" if owner[1] is not None else "")
            return Change(want.rel, want.owner, Action.UPDATE, (Reason.of("owner_changed", owner=text),))
        if want.content is not None:
            if current.data == want.content:
                return None
        elif not want.pending:
            if untouched and record.made_from == want.made_from:
                return None
            if want.holds is not None and want.holds(current.data):
                return None  # a store holding exactly what it should: never re-serialise it
        inputs = self.input_reasons(record, want) if record is not None else ()
        if untouched:
            return Change(want.rel, want.owner, Action.UPDATE, inputs or (Reason.of("content_changed"),))
        return Change(want.rel, want.owner, Action.REPAIR, (Reason.of("edited"), *inputs))

    def input_reasons(self, record: FileRecord, want: FileWant) -> tuple[Reason, ...]:
        reasons = []
        for key in sorted(set(record.made_from) | set(want.made_from)):
            old, new = record.made_from.get(key), want.made_from.get(key)
            if old == new:
                continue
            if key == "format":
                reasons.append(Reason.of("store_format_changed", old=old, new=new))
            elif key == "profile":
                reasons.append(Reason.of("pkcs12_changed", old=old, new=new))
            elif key in _INPUT_REASONS:
                reasons.append(Reason.of(_INPUT_REASONS[key]))
            else:
                reasons.append(Reason.of("content_changed"))
        return tuple(dict.fromkeys(reasons))

    def record_for(self, want: FileWant) -> FileRecord:
        """The record of a file that stays: re-recorded from disk (its content was checked)."""
        data = self.current(want.rel).data or b""
        return FileRecord(want.owner, want.role, self.digest(data, want.secret), want.made_from, want.cert_pem)


def files_of(spec: Spec, keys: dict[str, KeyMaterial], certs: dict[str, CertMaterial],
             passwords: dict[str, str], digest) -> list[FileWant]:
    """Every file out/ should hold. Content is known unless it depends on material still to be made
    (then `made_from` holds None where a fingerprint will be) or is a store (built only when needed)."""
    files: list[FileWant] = [FileWant(".gitignore", "", "gitignore", False, {}, b"*\n")]
    for ca in spec.ca_order():
        cert = certs[ca.name]
        if ca.imported is None:
            key = keys[ca.name]
            files.append(FileWant(f"{ca.dir}/ca.key", ca.dir, "key", True, {"key": key.fp, "type": key.key_type},
                                  key.pem, material=(_key_action(key), key.new_reasons)))
        files.append(FileWant(f"{ca.dir}/ca.crt", ca.dir, "certificate", False,
                              {"cert": cert.fp, **(cert.want.made_from() if cert.want else {"imported": True})},
                              cert.pem, cert_pem=cert.pem.decode() if cert.pem else None,
                              material=(cert.action, cert.reasons)))
    for e in spec.entities.values():
        files.extend(_entity_files(spec, e, keys[e.name], certs, passwords[e.name], digest))
    compose = render_compose(spec)
    if compose is not None:
        files.append(FileWant(spec.compose.file, "", "compose", False, {}, compose.encode()))
    return files


def _entity_files(spec: Spec, e: Entity, key: KeyMaterial, certs: dict[str, CertMaterial], password: str,
                  digest) -> list[FileWant]:
    d, cert = e.dir, certs[e.name]
    chain = [cert] + [certs[ca.name] for ca in spec.chain_of(e.issuer)[:-1]]  # leaf, then intermediates
    trusted = [pair for name in e.trust for pair in _trust_certs(spec, certs, name)]
    trust, trust_fps = [pem for pem, _ in trusted], [fp for _, fp in trusted]
    chain_fps = [c.fp for c in chain]
    chain_pem = _joined([c.pem for c in chain])
    trust_pem = _joined(trust)
    pw = digest(password.encode(), True)
    files = [
        FileWant(f"{d}/{e.name}.key", d, "key", True, {"key": key.fp, "type": key.key_type}, key.pem,
                 material=(_key_action(key), key.new_reasons)),
        FileWant(f"{d}/{e.name}.crt", d, "certificate", False, {"cert": cert.fp, **cert.want.made_from()}, cert.pem,
                 cert_pem=cert.pem.decode() if cert.pem else None, material=(cert.action, cert.reasons)),
        FileWant(f"{d}/chain.pem", d, "chain", False, {"chain": chain_fps}, chain_pem),
        FileWant(f"{d}/ca.pem", d, "trust bundle", False, {"trust": trust_fps}, trust_pem),
    ]
    if e.kind == "servers":  # MongoDB's net.tls.certificateKeyFile: certificate chain and key in one file
        both = chain_pem + key.pem if chain_pem is not None and key.pem is not None else None
        files.append(FileWant(f"{d}/{e.name}.pem", d, "certificate and key", True,
                              {"chain": chain_fps, "key": key.fp}, both))

    def chain_certs() -> list:
        return [c.cert for c in chain]

    if e.keystore == "pem":
        files.append(FileWant(
            f"{d}/keystore.pem", d, "keystore", True,
            {"chain": chain_fps, "key": key.fp, "password": pw, "format": "pem"}, None,
            build=lambda: stores.pem_keystore_bytes(key.obj(), chain_certs(), password),
            holds=lambda data: stores.pem_keystore_holds(data, password, key.obj(), chain_certs())))
    else:
        files.append(FileWant(
            f"{d}/keystore.{STORE_SUFFIX[e.keystore]}", d, "keystore", True,
            {"chain": chain_fps, "key": key.fp, "password": pw, "format": e.keystore, "profile": e.pkcs12}, None,
            build=lambda: stores.keystore_bytes(e.keystore, profile=e.pkcs12, alias=e.name, key=key.obj(),
                                                chain=chain_certs(), password=password),
            holds=lambda data: _holds(lambda: stores.read_keystore(e.keystore, data, password),
                                      lambda: stores.expected_keystore(e.name, key.obj(), chain_certs()))))
        files.append(FileWant(f"{d}/keystore.password", d, "password", True, {}, password.encode()))
    files.append(FileWant(f"{d}/key.password", d, "password", True, {}, password.encode()))
    if e.truststore != "pem":
        aliases = _trust_aliases(spec, e)

        def trust_certs() -> list:
            return list(zip(aliases, [pki.load_cert(p) for p in trust]))

        files.append(FileWant(
            f"{d}/truststore.{STORE_SUFFIX[e.truststore]}", d, "truststore", True,
            {"trust": trust_fps, "password": pw, "format": e.truststore, "profile": e.pkcs12}, None,
            build=lambda: stores.truststore_bytes(e.truststore, profile=e.pkcs12, certs=trust_certs(), password=password),
            holds=lambda data: _holds(lambda: stores.read_truststore(e.truststore, data, password),
                                      lambda: stores.expected_truststore(trust_certs()))))
        files.append(FileWant(f"{d}/truststore.password", d, "password", True, {}, password.encode()))
    passwords = Passwords(keystore=password if e.keystore != "pem" else None,
                          truststore=password if e.truststore != "pem" else None, key=password)
    for name, text in render_entity_files(spec, e, passwords).items():
        secret = is_secret(name) or password in text  # properties and env files are secrets
        files.append(FileWant(f"{d}/{name}", d, "config", secret, {"password": pw} if secret else {}, text.encode()))
    return files


def _trust_certs(spec: Spec, certs: dict[str, CertMaterial], name: str) -> list[tuple[bytes | None, str | None]]:
    """(PEM, fingerprint) of each certificate a trust name stands for; None for a CA still to be issued."""
    if name in spec.trusted:
        return [(pem, _pem_fingerprint(pem)) for pem in spec.trusted[name].certs_pem]
    return [(certs[name].pem, certs[name].fp)]


@functools.lru_cache(maxsize=None)
def _pem_fingerprint(pem: bytes) -> str:
    return pki.cert_fingerprint(pki.load_cert(pem))


def _trust_aliases(spec: Spec, e: Entity) -> list[str]:
    aliases = []
    for name in e.trust:
        count = len(spec.trusted[name].certs_pem) if name in spec.trusted else 1
        aliases += [name] if count == 1 else [f"{name}-{i + 1}" for i in range(count)]
    return aliases


def _joined(pems: list[bytes | None]) -> bytes | None:
    return None if any(p is None for p in pems) else b"".join(pems)


def _holds(read: Callable, expected: Callable) -> bool:
    try:
        return read() == expected()
    except (stores.StoreError, ValueError):
        return False


def _new_reason(owner: str, owner_is_new: bool) -> str:
    if not owner_is_new or owner == "":
        return "new_file"
    return "new_ca" if owner.startswith("cas/") else "new_entity"


def _key_action(key: KeyMaterial) -> Action:
    return Action.ROTATE if key.new_reasons else Action.CREATE


def _has_none(value) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_none(v) for v in value)
    return False


def _try_cert(data: bytes) -> x509.Certificate | None:
    try:
        return pki.load_cert(data)
    except ValueError:
        return None
