"""Planning CAs: a CA as the spec wants it, an imported one as its file gives it, and a CA whose
replacement is a rollover, kept as it is while its successor is made and trusted beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cryptography import x509

from .. import layout
from ..crypto import pki
from ..diagnostics import Diagnostic, UserError, display_path
from . import rollover
from .content import Identity
from .plan import DeleteFile, IssueCert, Step, WriteFile
from .policies import CertWant, ca_want
from .reasons import Action, Reason
from .rollover import CaFacts, Move, Note
from .state import Rollover


@dataclass
class IdentityPlan:
    """What the planner decided for one identity, before it is committed to the plan."""

    identity: Identity
    key_type: str
    key_reasons: tuple[Reason, ...]
    cert_verdict: tuple[Action | None, tuple[Reason, ...]]
    want: CertWant
    is_ca: bool



class CaPlanning:
    """The planner's part for CAs: plain, imported, and rolled over in three steps (rollover.py decides
    the move; this turns it into identities, steps and the rollover's record). Mixed into the planner,
    whose identities, steps and notes it fills."""

    def plan_ca(self, ca) -> None:
        stored = self.got.stored.state.rollovers.get(ca.name)
        key_rel, cert_rel = f"{ca.dir}/{layout.CA_KEY}", f"{ca.dir}/{layout.CA_CERT}"
        nxt = layout.other_identity(ca.name, layout.NEXT)
        next_key, next_cert = f"{ca.dir}/{layout.NEXT}.key", f"{ca.dir}/{layout.NEXT}.crt"
        if ca.imported is not None:
            active, change = self.imported_identity(ca, stored)
        else:
            active = self.decide_identity(ca.name, key_rel, cert_rel, ca.key, ca_want(ca), is_ca=True,
                                          rotate=ca.name in self.options.rotate)
            change = change_of(active)
        move = rollover.decide(CaFacts(
            ca=ca.name, stored=stored, continue_requested=ca.name in self.options.proceed,
            now_requested=ca.name in self.options.rotate and self.options.at_once,
            trusted=ca.name in self.trusted, exists=self.got.current(cert_rel).exists or cert_rel in self.got.records,
            change=change))
        after = stored
        if move in (Move.START, Move.STAY) and (stored is None or stored.step == "trust"):
            old = self.keep_ca(ca, key_rel, cert_rel, stored)
            self.commit(old)
            if ca.imported is not None:
                self.identities[nxt] = Identity(nxt, cert=pki.load_cert(ca.imported.cert_pem))
            else:
                self.commit(self.decide_identity(nxt, next_key, next_cert, ca.key, ca_want(ca), is_ca=True))
            if move is Move.START:
                after = Rollover(ca.name, "trust", self.options.now.isoformat(timespec="seconds"),
                                 old.identity.cert_fingerprint, None, old.identity.cert_pem.decode(),
                                 why=change.text)
        elif move is Move.ADVANCE:
            if ca.imported is None:  # the CA that issues now is the one the trust step made
                self.commit(self.decide_identity(ca.name, next_key, next_cert, ca.key, ca_want(ca), is_ca=True))
            else:
                self.commit(active)
            after = replace(stored, step="issue", new=self.identities[ca.name].cert_fingerprint)
        else:
            self.commit(active)
            if move in (Move.RETIRE, Move.FLAG_DAY):
                after = None
        if after is not None and after.step == "issue":
            previous = layout.other_identity(ca.name, layout.PREVIOUS)
            self.identities[previous] = Identity(previous, cert=pki.load_cert(after.old_cert_pem.encode()))
        if after is not None:
            self.rollovers[ca.name] = after
        if move is not Move.NONE:
            self.notes.append(Note(ca.name, move, after, warn_flag_day=move is Move.FLAG_DAY and ca.name in self.trusted
                                   and self.got.current(cert_rel).exists))

    def imported_identity(self, ca, stored: Rollover | None) -> tuple[IdentityPlan, Reason | None]:
        """An imported CA as the spec gives it, and whether its key changed since the last apply."""
        cert = pki.load_cert(ca.imported.cert_pem)
        plan = IdentityPlan(Identity(ca.name, cert=cert), "", (), (None, ()), ca_want(ca), True)
        record = self.got.records.get(f"{ca.dir}/{layout.CA_CERT}")
        before = try_cert(record.cert_pem.encode()) if record is not None and record.cert_pem else None
        if stored is None and before is not None and pki.spki_fingerprint(before) != pki.spki_fingerprint(cert):
            return plan, Reason.of("imported_key_changed")
        return plan, None

    def keep_ca(self, ca, key_rel: str, cert_rel: str, stored: Rollover | None) -> IdentityPlan:
        """The CA that issues until the issue step: kept as it is, whatever the spec now asks of it."""
        identity = Identity(ca.name)
        if ca.imported is None:
            current = self.read_managed(key_rel)
            try:
                key = pki.load_key(current.data) if current.data is not None else None
            except (ValueError, TypeError):
                key = None
            if key is not None:
                identity.key_pem, identity._key = current.data, key
                identity.key_fingerprint, identity.key_type = pki.spki_fingerprint(key), pki.key_type_of(key)
        current, record = self.read_managed(cert_rel), self.got.records.get(cert_rel)
        cert = try_cert(current.data) if current.data is not None else None
        if cert is None and stored is not None:
            cert = try_cert(stored.old_cert_pem.encode())
        if cert is None and record is not None and record.cert_pem:
            cert = try_cert(record.cert_pem.encode())
        identity.cert = cert
        if cert is None or (ca.imported is None and identity.key_pem is None):
            raise UserError.single(f"CA {ca.name}: its {'key' if cert is not None else 'certificate'} is gone during a "
                                   "rollover, so it cannot keep issuing until the new CA is trusted everywhere",
                                   f"restore {display_path(self.got.out.path(key_rel if cert else cert_rel))}, or "
                                   f"replace the CA at once with --rotate-key {ca.name} --now")
        return IdentityPlan(identity, identity.key_type or "", (), (None, ()), ca_want(ca), True)

    def check_imported_rollovers(self) -> None:
        """An imported CA's old key is gone once its file is replaced: nothing can be issued under the old
        certificate while the new one is not yet trusted everywhere."""
        problems = []
        for step in self.material_steps:
            issuer = step.want.issuer if isinstance(step, IssueCert) else None
            rolling = self.rollovers.get(issuer) if issuer else None
            if rolling is not None and rolling.step == "trust" and self.spec.cas[issuer].imported is not None:
                problems.append(Diagnostic(None, "", f"{step.identity} needs a new certificate from {issuer}, whose "
                                           "rollover is at its trust step: the old key is no longer given and the new "
                                           "CA is not yet trusted everywhere",
                                           f"restart the services, then `tlsgen apply --continue {issuer}`"))
        if problems:
            raise UserError(problems)

    def note_restarts(self, steps: list[Step]) -> None:
        """The compose services whose mounted files this apply changes: those to restart before the next step."""
        parts = {s.artifact.part if isinstance(s, WriteFile) else s.part for s in steps
                 if isinstance(s, (WriteFile, DeleteFile))}
        services = tuple(sorted({e.service or e.dir for e in self.spec.entities.values() if e.dir in parts}))
        for note in self.notes:
            if note.move in (Move.START, Move.ADVANCE) and note.ca in self.rollovers:
                self.rollovers[note.ca] = replace(self.rollovers[note.ca], restart=services)
        self.notes = [replace(n, rollover=self.rollovers.get(n.ca),
                              restart=self.rollovers[n.ca].restart if n.move is Move.STAY else services)
                      for n in self.notes]


def change_of(plan: IdentityPlan) -> Reason | None:
    """Why a CA would get a new key or a new subject: what makes replacing it a rollover."""
    for reason in (*plan.key_reasons, *plan.cert_verdict[1]):
        if reason.code in ("rotate_requested", "key_type_changed", "subject_changed"):
            return reason
    return None


def try_cert(data: bytes) -> x509.Certificate | None:
    try:
        return pki.load_cert(data)
    except ValueError:
        return None
