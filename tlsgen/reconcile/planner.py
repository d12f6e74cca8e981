"""Desired artifacts, compared with out/ and its state: the plan.

Planning reads and hashes; it never generates a key, signs or serialises a store. Those happen in
`apply`, for exactly the steps the plan lists. Decisions are made on content where content is the
truth (does this key file hold a key of the right type? does this certificate carry the wanted
SANs?) and on the state's records for what content cannot show (the validity setting, the issuer's
name, whether a file was edited since tlsgen wrote it). The decisions themselves are the ordered
checks of `policies.py`; this module gathers their facts and turns verdicts into steps.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from .. import layout
from ..crypto import pki
from ..diagnostics import Diagnostic, UserError, did_you_mean, display_path
from ..layout import Artifact
from ..model import Entity, Spec
from ..model.rules import PASSWORD_RE
from .content import Identity, Materials, chown_of, content, holds, made_from
from .ca_planning import CaPlanning, IdentityPlan, try_cert
from .gather import Gathered
from .kubernetes import plan_generations
from .outdir import OutDir
from .plan import DeleteFile, IssueCert, KnownKey, MakeKey, Plan, SetAttributes, Step, WriteFile
from .policies import (CertFacts, CertWant, FileFacts, attribute_verdict, entity_want, reissue_reasons,
                       rewrite_verdict)
from .reasons import Action, Reason
from .rollover import Note
from .state import FileRecord, Rollover

PASSWORD_ALPHABET = string.ascii_letters + string.digits  # safe unquoted in env files, compose and KAFKA_OPTS
PASSWORD_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Options:
    now: datetime
    renew: frozenset[str] = frozenset()
    rotate: frozenset[str] = frozenset()
    proceed: frozenset[str] = frozenset()  # --continue: CAs whose rollover takes its next step
    at_once: bool = False  # --now: a CA named by --rotate-key is replaced in this apply (a flag day)


def make_plan(spec: Spec, out: OutDir, options: Options) -> Plan:
    return _Planner(spec, Gathered(out), options).plan()


class _Planner(CaPlanning):
    def __init__(self, spec: Spec, gathered: Gathered, options: Options):
        self.spec, self.got, self.options = spec, gathered, options
        self.digest = gathered.stored.digest
        self.identities: dict[str, Identity] = {}
        self.passwords: dict[str, str] = {}
        self.key_steps: list[MakeKey] = []  # every key before any certificate: apply makes keys first
        self.cert_steps: list[IssueCert] = []
        self.key_verdicts: dict[str, tuple[Action | None, tuple[Reason, ...]]] = {}
        self.cert_verdicts: dict[str, tuple[Action | None, tuple[Reason, ...]]] = {}
        self.conflicts: list[str] = []
        self.known_parts = {r.part for r in gathered.records.values()}

    def plan(self) -> Plan:
        self.check_names()
        self.trusted = {name for e in self.spec.entities.values() for name in e.trust}
        self.notes: list[Note] = []
        self.rollovers: dict[str, Rollover] = {}
        for ca in self.spec.ca_order():
            self.plan_ca(ca)
        for e in self.spec.entities.values():
            self.commit(self.decide_identity(e.name, f"{e.dir}/{layout.key_file(e)}", f"{e.dir}/{layout.cert_file(e)}",
                                             e.key, entity_want(e), is_ca=False, rotate=e.name in self.options.rotate))
            self.passwords[e.name] = self.plan_password(e)
        for ca in layout.strimzi_cas(self.spec):  # ca.p12's password, kept like an entity's
            self.passwords[ca.name] = self.kept_password([f"{ca.dir}/{layout.STRIMZI_PASSWORD}"])
        self.check_imported_rollovers()
        materials = Materials(self.spec, self.identities, self.passwords, self.digest)
        materials.strimzi = plan_generations(self.spec, materials, self.got.stored.state.strimzi)
        wanted = layout.artifacts(self.spec, {ca: r.step for ca, r in self.rollovers.items()})
        file_steps, kept = self.plan_files(wanted, materials)
        dir_steps = self.plan_directories()
        deletes = self.plan_deletes({a.path for a in wanted})
        if self.conflicts:
            raise UserError(Diagnostic(None, "", f"{display_path(self.got.out.path(rel))} exists but tlsgen did not "
                                       "make it", "tlsgen never overwrites files it does not manage: move it away")
                            for rel in self.conflicts)
        self.note_restarts(file_steps + deletes)
        records, stored = self.got.records, self.got.stored
        written = {s.artifact.path for s in file_steps if isinstance(s, WriteFile)}
        state_changed = bool(deletes) or any(records.get(p) != r for p, r in kept.items()) \
            or bool(set(records) - set(kept) - written) or (stored.salt_is_new and bool(written)) \
            or self.rollovers != stored.state.rollovers or materials.strimzi != stored.state.strimzi
        return Plan(
            out=str(self.got.out.root), spec=self.spec, now=self.options.now,
            steps=(*self.material_steps, *self.ordered(dir_steps, file_steps), *deletes),
            keys={n: KnownKey(i.key_pem, i.key_fingerprint, i.key_type) for n, i in self.identities.items()
                  if i.key_pem is not None},
            certs={n: i.cert_pem for n, i in self.identities.items() if i.cert is not None},
            passwords=dict(self.passwords), kept=kept, salt=stored.salt, salt_is_new=stored.salt_is_new,
            serial=stored.state.serial, journal=stored.journal, state_changed=state_changed,
            next_due=self.next_due(), rollovers=dict(self.rollovers), notes=tuple(self.notes),
            strimzi=materials.strimzi)

    def check_names(self) -> None:
        names = [*self.spec.cas, *self.spec.entities]
        rolling = self.got.stored.state.rollovers
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
                elif flag == "--rotate-key" and name in rolling and not self.options.at_once:
                    problems.append(Diagnostic(None, "", f"--rotate-key {name}: a rollover of {name} is in progress "
                                               f"(step {rolling[name].number} of 3 done)",
                                               f"continue it with --continue {name}, or replace the key at once "
                                               "with --rotate-key --now"))
        for name in sorted(self.options.proceed):
            if name not in rolling:
                problems.append(Diagnostic(None, "", f"--continue {name}: no rollover of a CA named {name} is in "
                                           "progress", did_you_mean(name, rolling) if rolling else
                                           "a rollover starts with --rotate-key CA or a change of the CA's key or subject"))
        if self.options.at_once and not self.options.rotate:
            problems.append(Diagnostic(None, "", "--now replaces the keys --rotate-key names; it names none",
                                       "use --rotate-key CA --now"))
        if problems:
            raise UserError(problems)

    # --- keys and certificates --------------------------------------------------------------------

    def decide_identity(self, name: str, key_rel: str, cert_rel: str, key_type: str, want: CertWant,
                        *, is_ca: bool, rotate: bool = False) -> IdentityPlan:
        identity = Identity(name)
        key_reasons = self.plan_key(identity, key_rel, key_type, rotate)
        part = key_rel.rsplit("/", 1)[0]
        new = Reason.of(_new_reason(part, part not in self.known_parts))
        verdict = self.plan_cert(identity, cert_rel, want, key_reasons, new)
        return IdentityPlan(identity, key_type, key_reasons, verdict, want, is_ca)

    def commit(self, plan: IdentityPlan) -> None:
        name = plan.identity.name
        self.identities[name] = plan.identity
        if plan.identity.key_pem is None and plan.key_type:
            self.key_steps.append(MakeKey(name, plan.key_type, plan.key_reasons))
            self.key_verdicts[name] = (Action.ROTATE if plan.key_reasons else Action.CREATE, plan.key_reasons)
        action, reasons = plan.cert_verdict
        if action is not None:
            self.cert_steps.append(IssueCert(name, plan.want, plan.is_ca, action, reasons))
            self.cert_verdicts[name] = (action, reasons)

    @property
    def material_steps(self) -> list[MakeKey | IssueCert]:
        return [*self.key_steps, *self.cert_steps]

    def plan_key(self, identity: Identity, rel: str, key_type: str, rotate: bool) -> tuple[Reason, ...]:
        """Keep the key on disk, or say why a new one is made (the identity keeps the one it keeps)."""
        current, record = self.read_managed(rel), self.got.records.get(rel)
        reasons: list[Reason] = []
        if rotate:
            reasons.append(Reason.of("rotate_requested"))
        pem, fingerprint, have_type, key = current.data, None, None, None
        if pem is not None:
            if record and self.digest(pem, True) == record.digest and "key" in record.made_from:
                fingerprint, have_type = record.made_from["key"], record.made_from.get("type")
            else:
                try:
                    key = pki.load_key(pem)  # from outside our records: fully checked
                    fingerprint, have_type = pki.spki_fingerprint(key), pki.key_type_of(key)
                    # The key is kept, in tlsgen's own form: a hand edit around it is drift to repair.
                    pem = pki.key_pem(key)
                except (ValueError, TypeError):
                    pem = None
        if pem is None:
            if current.exists:
                reasons.append(Reason.of("symlink" if current.symlink else "edited"))
            elif record is not None:
                reasons.append(Reason.of("deleted"))
        elif have_type != key_type:
            reasons.append(Reason.of("key_type_changed", old=have_type, new=key_type))
        if not reasons and pem is not None:
            identity.key_pem, identity.key_fingerprint, identity.key_type, identity._key = pem, fingerprint, have_type, key
        return tuple(reasons)

    def plan_cert(self, identity: Identity, rel: str, want: CertWant, key_reasons: tuple[Reason, ...],
                  new: Reason) -> tuple[Action | None, tuple[Reason, ...]]:
        current, record = self.read_managed(rel), self.got.records.get(rel)
        cert = try_cert(current.data) if current.data is not None else None
        if cert is None and record is not None and record.cert_pem:
            cert = try_cert(record.cert_pem.encode())  # a deleted or damaged file is restored as it was
        if cert is None:
            return (Action.CREATE, (new,)) if record is None else (Action.REPAIR, (Reason.of("deleted"),))
        issuer = self.identities.get(want.issuer) if want.issuer else None
        facts = CertFacts(
            want=want, cert=cert, recorded=record.made_from if record else {}, now=self.options.now,
            key_fp=identity.key_fingerprint, cert_key_fp=pki.spki_fingerprint(cert.public_key()),
            key_reasons=key_reasons,
            issuer_name_reissued=want.issuer if issuer is not None and issuer.cert is None else None,
            issuer_signed=issuer is None or issuer.cert is None or _signed_by(cert, issuer.cert),
            renew_requested=identity.name in self.options.renew)
        action, reasons = reissue_reasons(facts)
        if identity.key_pem is None and action is None:
            action, reasons = Action.ROTATE, (Reason.of("key_rotated"),)
        if action is None:
            identity.cert = cert
        return action, reasons

    def plan_password(self, e: Entity) -> str:
        if e.password is not None:
            return str(e.password)
        return self.kept_password([f"{e.dir}/{name}" for name in
                                   (layout.KEYSTORE_PASSWORD, layout.KEY_PASSWORD, layout.TRUSTSTORE_PASSWORD)])

    def kept_password(self, rels: list[str]) -> str:
        """A generated password is kept: take it back from a password file tlsgen wrote, preferring one
        nobody edited; else any of ours (an apply killed mid-way, or a lost salt). A password file
        edited into something the consumers cannot carry is not adopted: a new password replaces it."""
        ours = []
        for rel in rels:
            current, record = self.got.current(rel), self.got.records.get(rel)
            password = _usable_password(current.data)
            if password is None:
                continue
            if record is not None and self.digest(current.data, True) == record.digest:
                return password
            if self.got.ours(rel):
                ours.append(password)
        if ours:
            return ours[0]
        return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))

    # --- files ------------------------------------------------------------------------------------

    def read_managed(self, rel: str):
        current = self.got.current(rel)
        if current.exists and not self.got.ours(rel):
            self.conflicts.append(rel)
        return current

    def plan_files(self, wanted: list[Artifact], m: Materials) -> tuple[list[Step], dict[str, FileRecord]]:
        steps: list[Step] = []
        kept: dict[str, FileRecord] = {}
        for a in wanted:
            facts = self.file_facts(a, m)
            verdict = rewrite_verdict(facts)
            if verdict is not None:
                digest = self.digest(facts.wanted, a.secret) if facts.wanted is not None else None
                steps.append(WriteFile.planned(a, *verdict, facts.made_from, digest, facts.chown))
                continue
            cert_pem = m[a.name].cert_pem.decode() if a.role is layout.Role.CERTIFICATE else None
            kept[a.path] = FileRecord(a.part, a.role.value, self.digest(facts.current.data, a.secret),
                                      facts.made_from, cert_pem)
            attributes = attribute_verdict(facts)
            if attributes is not None:
                steps.append(SetAttributes(a, *attributes, chown=facts.chown))
        return steps, kept

    def file_facts(self, a: Artifact, m: Materials) -> FileFacts:
        current, record = self.read_managed(a.path), self.got.records.get(a.path)
        untouched = record is not None and current.data is not None and \
            self.digest(current.data, a.secret) == record.digest
        material = (None, ())
        if a.role is layout.Role.KEY:
            material = self.key_verdicts.get(a.name, material)
        elif a.role is layout.Role.CERTIFICATE:
            material = self.cert_verdicts.get(a.name, material)
        # The exact bytes only for a file there is to compare them with: a new one is created whatever it
        # holds, and built once, by apply (a cold apply of 50 clients rendered 640 files twice).
        wanted = content(a, m) if current.exists else None
        return FileFacts(artifact=a, current=current, record=record, untouched=untouched, wanted=wanted,
                         made_from=made_from(a, m), new_reason=Reason.of(_new_reason(a.part, a.part not in
                                                                                    self.known_parts)),
                         material=material, holds=holds(a, m), chown=chown_of(self.spec, a.part))

    def plan_directories(self) -> list[Step]:
        steps: list[Step] = []
        for d in layout.directories(self.spec):
            current = self.got.directory(d.path)
            if current is None:
                continue  # made by the first write into it
            chown = chown_of(self.spec, d.part) if d.path == d.part and d.part else None
            facts = FileFacts(artifact=d, current=current, record=None, untouched=True, wanted=None, made_from={},
                              new_reason=Reason.of("new_file"), chown=chown)
            verdict = attribute_verdict(facts)
            if verdict is not None:
                steps.append(SetAttributes(d, *verdict, chown=chown))
        return steps

    def plan_deletes(self, desired: set[str]) -> list[DeleteFile]:
        live = set(layout.parts(self.spec))
        deletes = []
        for rel, record in sorted(self.got.records.items()):
            if rel in desired or not self.got.current(rel).exists:
                continue  # a file already gone is only forgotten by the state
            reason = _delete_reason(rel, record, live)
            deletes.append(DeleteFile(rel, record.part, (reason,)))
        # Files an interrupted apply wrote are ours, whatever the spec says now.
        for rel in sorted(self.got.stored.journal.paths - desired - set(self.got.records)):
            if self.got.current(rel).exists:
                deletes.append(DeleteFile(rel, layout.part_of(rel), (Reason.of("interrupted"),)))
        return deletes

    def ordered(self, dir_steps: list[Step], file_steps: list[Step]) -> list[Step]:
        """Part by part in plan order (issuers first); in a part, its directories, then its files in
        layout order (the order `file_steps` come in). A stable sort on the part alone: no key per step
        beyond the part's rank, which a plan of 60,000 files would otherwise hold at its largest."""
        part_order = {part: i for i, part in enumerate(layout.parts(self.spec))}
        last = len(part_order)
        dir_steps = sorted(dir_steps, key=lambda s: (part_order.get(s.target.part, last), s.target.path))
        return sorted(dir_steps + file_steps,
                      key=lambda s: part_order.get((s.artifact if isinstance(s, WriteFile) else s.target).part, last))

    def next_due(self) -> datetime | None:
        """When watch should plan again: the earliest end of a certificate minus its renew_before, with
        certificates still to be issued ending as issue_ca/issue_leaf will end them."""
        ends: dict[str, datetime] = {}
        due = []
        owners = [(ca.name, ca.issuer, ca.validity, ca.renew_before) for ca in self.spec.ca_order()]
        owners += [(e.name, e.issuer, e.validity, e.renew_before) for e in self.spec.entities.values()]
        for name, issuer, validity, renew_before in owners:
            cert = self.identities[name].cert
            if cert is not None:
                ends[name] = cert.not_valid_after_utc
            else:
                ends[name] = min([self.options.now + validity.delta] + ([ends[issuer]] if issuer else []))
            due.append(ends[name] - renew_before.delta)
        return min(due) if due else None


def _delete_reason(rel: str, record: FileRecord, live: set[str]) -> Reason:
    if record.part not in live:
        return Reason.of("removed")
    if layout.is_ca_part(record.part):
        name = rel.rsplit("/", 1)[-1]
        if name.startswith(f"{layout.NEXT}."):
            return Reason.of("rollover_promoted")
        if name.startswith(f"{layout.PREVIOUS}."):
            return Reason.of("rollover_retired")
    return Reason.of("not_needed", why=f"the spec no longer needs a {record.role} here")


def _usable_password(data: bytes | None) -> str | None:
    """A password file's text if it could have been a password tlsgen accepts; else None."""
    if not data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if PASSWORD_RE.match(text) else None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (InvalidSignature, ValueError, TypeError):  # signature or name mismatch: not this issuer's
        return False


def _new_reason(part: str, part_is_new: bool) -> str:
    if not part_is_new or part == "":
        return "new_file"
    return "new_ca" if layout.is_ca_part(part) else "new_entity"
