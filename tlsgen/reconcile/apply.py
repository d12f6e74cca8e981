"""Carry out a plan: make the keys and certificates it needs, write each file atomically, state last.

Apply never decides anything again: it writes exactly the plan's paths. The journal written before
the first change tells the next apply which files were ours if this one is killed mid-way.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable

from ..crypto import pki
from .outdir import OutDir
from .plan import Plan
from .planner import Work, files_of
from .state import FileRecord, State, clear_journal, write_journal, write_salt, write_state

Progress = Callable[[str], None]
_KILL_AFTER_WRITES = int(os.environ.get("TLSGEN_TEST_KILL_AFTER_WRITES", "0"))


def apply_plan(plan: Plan, out: OutDir, progress: Progress = lambda msg: None) -> None:
    work: Work = plan.work
    if plan.empty and not work.state_changed:
        if work.stored.journal:
            clear_journal(out)  # an apply killed after its state was written: nothing left to do
        return  # idempotent: not even the state is rewritten
    out.clean_temp_files()
    stored = work.stored
    if stored.salt_is_new:
        write_salt(out, stored.salt)
    if not plan.empty:
        write_journal(out, work.writes + work.deletes)
    make_material(work, progress)
    wants = {w.rel: w for w in files_of(work.spec, work.keys, work.certs, work.passwords, stored.digest)}
    records = dict(work.records)
    owners = {e.dir: e.owner for e in work.spec.entities.values()}
    for i, rel in enumerate(work.writes, 1):
        want = wants[rel]
        data = want.content if want.content is not None else want.build()
        out.write(rel, data, want.mode, owners.get(want.owner))
        records[rel] = FileRecord(want.owner, want.role, stored.digest(data, want.secret), want.made_from, want.cert_pem)
        if i == _KILL_AFTER_WRITES:  # crash-safety tests: die like `kill -9` at a chosen point
            os.kill(os.getpid(), signal.SIGKILL)
        if i % 50 == 0:
            progress(f"wrote {i}/{len(work.writes)} files")
    for rel in work.deletes:
        out.remove(rel)
    out.remove_empty_dirs(work.deletes)
    write_state(out, State(stored.state.serial + 1, records))
    clear_journal(out)


def make_material(work: Work, progress: Progress) -> None:
    """New keys (RSA on every core), then certificates, CAs before what they sign."""
    new_keys = [name for name, key in work.keys.items() if key.is_new]
    if new_keys:
        progress(f"generating {len(new_keys)} key{'s' if len(new_keys) > 1 else ''}…")
        for name, key in zip(new_keys, pki.generate_keys([work.keys[n].key_type for n in new_keys])):
            material = work.keys[name]
            material.pem, material.fp, material._obj = pki.key_pem(key), pki.spki_fingerprint(key), key
    spec = work.spec
    signing = [(ca.name, ca.issuer) for ca in spec.ca_order()] + [(e.name, e.issuer) for e in spec.entities.values()]
    to_issue = [name for name, _ in signing if work.certs[name].cert is None]
    if to_issue:
        progress(f"signing {len(to_issue)} certificate{'s' if len(to_issue) > 1 else ''}…")
    now = work.now
    signing_keys: dict[str, object] = {}
    for name, issuer in signing:
        material = work.certs[name]
        if material.cert is not None:
            continue
        want, key = material.want, work.keys[name].obj()
        issuer_cert = work.certs[issuer].cert if issuer else None
        if issuer and issuer not in signing_keys:
            signing_keys[issuer] = _signing_key(work, issuer)
        issuer_key = signing_keys.get(issuer)
        if name in spec.cas:
            material.cert = pki.issue_ca(subject=want.subject, key=key, issuer_cert=issuer_cert, issuer_key=issuer_key,
                                         path_length=want.path_length, validity=want.validity.delta, now=now)
        else:
            material.cert = pki.issue_leaf(subject=want.subject, public_key=key.public_key(), issuer_cert=issuer_cert,
                                           issuer_key=issuer_key, hostnames=[s[4:] for s in want.sans if s.startswith("DNS:")],
                                           ip_addresses=[s[3:] for s in want.sans if s.startswith("IP:")],
                                           usages=want.usages, validity=want.validity.delta, now=now)


def _signing_key(work: Work, ca_name: str):
    ca = work.spec.cas[ca_name]
    if ca.imported is not None:
        password = ca.imported.key_password
        return pki.load_key(ca.imported.key_pem, str(password) if password else None)
    return work.keys[ca_name].obj()


def terminal_progress(stream=sys.stderr) -> Progress:
    """Progress lines on a terminal; nothing when stderr is not one (CI logs stay quiet)."""
    if not stream.isatty():
        return lambda msg: None
    return lambda msg: print(f"tlsgen: {msg}", file=stream, flush=True)
