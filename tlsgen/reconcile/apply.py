"""Carry out a plan: a small interpreter over its steps that never decides anything again.

The CAs' keys and certificates first (issuers before what they sign), then the files in batches:
each batch's new entity keys (RSA on every core; the next batch's are made while this one is
written) and certificates, then its files, each staged to a temp file as soon as it is built and its
record added to the state being written, so that a large apply holds one batch of keys,
certificates and bytes at a time (and the next batch's keys). Once every file is staged they are
put in place together, modes and owners set, files deleted, and the state put in place last.

Every file is checked against what the plan said it would be (its digest where the plan knew the
bytes, as it does for a file it compared with them, and the inputs it is made from): a difference
is a bug in tlsgen, and apply stops before putting any file in place, as Terraform refuses an
"inconsistent final plan".

The journal is written before the first change and adds to what an interrupted apply left there:
if this apply is killed too, the next one still knows every file either of them may have written.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Callable, Iterator

from .. import layout
from ..crypto import pki, stores
from . import content
from .content import Identity, Materials
from .kubernetes import made_generations
from .outdir import OutDir
from .plan import DeleteFile, IssueCert, MakeKey, Plan, SetAttributes, WriteFile
from .state import (STATE, Digester, FileRecord, Rollover, StateWriter, clear_journal, state_writer, write_journal,
                    write_salt)

Progress = Callable[[str], None]


class InconsistentPlan(Exception):
    """What apply was about to write differs from what the plan promised: a bug in tlsgen."""


def apply_plan(plan: Plan, out: OutDir, progress: Progress = lambda msg: None, shortcut: dict | None = None,
               ahead: pki.KeysAhead | None = None) -> None:
    """`shortcut`: what the next no-op apply may check instead of planning (reconcile/shortcut.py);
    `ahead`: keys started before the plan was made (keys_ahead), taken before any other is made."""
    if plan.noop:
        out.clean_temp_files(plan.journal.marks)  # an apply killed after writing its state left only these
        if plan.journal.present:
            clear_journal(out)
        return  # idempotent: not even the state is rewritten
    touched = (s.artifact.path if isinstance(s, WriteFile) else s.path for s in plan.steps
               if isinstance(s, (WriteFile, DeleteFile)))
    write_journal(out, replace(plan.journal, marks=plan.journal.marks | {out.mark}), adding=touched)
    out.clean_temp_files(plan.journal.marks)
    if plan.salt_is_new:
        write_salt(out, plan.salt)
    materials = Materials(plan.spec, _identities(plan), dict(plan.passwords), Digester(plan.salt), dict(plan.strimzi))
    keys, certs, entities = plan.of_type(MakeKey), plan.of_type(IssueCert), plan.spec.entities
    if keys:
        progress(f"generating {len(keys)} key{'s' if len(keys) > 1 else ''}…")
    if certs:
        progress(f"signing {len(certs)} certificate{'s' if len(certs) > 1 else ''}…")
    # The CAs' keys and certificates first; each entity's with the batch that holds its files, so
    # that a large apply holds one batch of keys and certificates, not all of them.
    start_making_keys([s for s in keys if s.identity not in entities], materials, ahead)()
    issue_certificates([s for s in certs if s.is_ca], materials, plan)
    materials.strimzi = made_generations(plan.spec, materials, dict(plan.strimzi))  # with what was just made
    with state_writer(out) as state:  # put in place when the block ends: the last change of an apply
        for path, record in plan.kept.items():  # a file's record is kept or it is written, never both
            state.add(path, record)
        write_files(plan, materials, out, state, progress, ahead)
        for step in plan.of_type(SetAttributes):
            out.set_attributes(step.target.path, step.target.mode, step.chown)
        deletes = plan.of_type(DeleteFile)
        for step in deletes:
            out.remove(step.path)
        # Directories an interrupted apply made for files no longer wanted are left empty by the cleanup.
        out.remove_empty_dirs([step.path for step in deletes] + sorted(plan.journal.paths))
        state.finish(plan.serial + 1, rollovers_made(plan, materials), materials.strimzi, shortcut)
    clear_journal(out)


def write_files(plan: Plan, materials: Materials, out: OutDir, state: StateWriter, progress: Progress,
                ahead: pki.KeysAhead | None = None) -> None:
    """Every file the plan writes, in batches: the batch's entity keys and certificates made (the
    next batches' keys started meanwhile), its files built, checked, staged and recorded, then the keys
    and certificates let go; all put in place at the end. A large apply never holds every file's
    bytes, record, key or certificate."""
    entities, writes = plan.spec.entities, plan.of_type(WriteFile)
    keys_to_make = {s.identity: s for s in plan.of_type(MakeKey) if s.identity in entities}
    leaves_to_sign = {s.identity: s for s in plan.of_type(IssueCert) if not s.is_ca}
    stores_to_build = sum(s.artifact.role in _STORES for s in writes)
    if stores_to_build:
        progress(f"building {stores_to_build} stores…")
    last_file = {step.artifact.name: i for i, step in enumerate(writes)}  # of each CA and entity
    bounds = batches(len(writes), slow_keys=any(pki.is_rsa(s.key_type) for s in keys_to_make.values()))
    batch_names = [[n for n in dict.fromkeys(step.artifact.name for step in writes[start:stop]) if n in entities]
                   for start, stop in bounds]
    # The keys of the next WRITE_BATCH files are made while this batch is signed, built and staged:
    # RSA key generation runs in threads that leave the GIL, so the core that would wait for this
    # batch's serial work makes keys instead (no more keys are held than two full batches need).
    # 300 rsa-2048 clients: 0.965× the time of making each batch's keys when its turn comes (paired runs).
    waits: dict[int, Callable[[], None]] = {}  # by batch: its keys, once started, until it is written
    started = 0  # batches whose keys are under way

    def start_keys(i: int) -> None:
        """Start the keys of batch i and of every batch that starts in the WRITE_BATCH files after it."""
        nonlocal started
        while started < len(bounds) and (started <= i or bounds[started][0] < bounds[i][1] + WRITE_BATCH):
            steps = [keys_to_make.pop(n) for n in batch_names[started] if n in keys_to_make]
            waits[started] = start_making_keys(steps, materials, ahead)
            started += 1

    with out.staging(lambda done: progress(f"wrote {done}/{len(writes)} files")) as staging:
        for i, (start, stop) in enumerate(bounds):
            batch, names = writes[start:stop], batch_names[i]
            start_keys(i)
            waits.pop(i)()
            issue_certificates([leaves_to_sign.pop(n) for n in names if n in leaves_to_sign], materials, plan)
            records = {}
            for step, data in build_files(batch, materials):
                records[step.artifact.path] = checked_record(step, data, materials)
                staging.add(step.artifact.path, data, step.artifact.mode, step.chown)
            for step in batch:  # the state lists files in the plan's order, whatever order they were built in
                state.add(step.artifact.path, records.pop(step.artifact.path))
            for name in names:  # an entity whose files are all staged needs its key and certificate no more
                if last_file[name] < start + len(batch):
                    materials.forget(name)
        if keys_to_make or leaves_to_sign:  # every new key and certificate has a file to go to
            raise InconsistentPlan(f"keys or certificates with no file: {sorted({*keys_to_make, *leaves_to_sign})}")
        staging.commit()


WRITE_BATCH = 2048  # files built, then staged, at a time: ~1 MB (~170 entities), still work for every core
LAST_BATCH = 32  # files: the last batch of an apply that waits for RSA keys (batches)


def batches(files: int, slow_keys: bool = False) -> list[tuple[int, int]]:
    """Where each batch of files starts and stops: WRITE_BATCH files at a time; with `slow_keys` (RSA
    keys to make) the last WRITE_BATCH are cut in halves down to LAST_BATCH. An apply that makes RSA
    keys waits for them, and what it does with the last batch once its keys are made is left after
    the last key, on one core: signing, stores and files of ~135 entities at 300 clients (~0.3 s),
    of two entities when it holds 32 files (the halves' keys are made while the one before is written)."""
    bounds, start = [], 0
    while files - start > WRITE_BATCH:
        bounds.append((start, start + WRITE_BATCH))
        start += WRITE_BATCH
    while slow_keys and files - start > LAST_BATCH:
        half = (files - start + 1) // 2
        bounds.append((start, start + half))
        start += half
    if files > start:
        bounds.append((start, files))
    return bounds


_STORES = (content.Role.KEYSTORE, content.Role.TRUSTSTORE)


def build_files(writes: list[WriteFile], materials: Materials) -> Iterator[tuple[WriteFile, bytes]]:
    """Every file with its bytes: the stores are started first (on forked workers when there are
    enough, stores.building) and come last, so that the other files are built, checked and staged
    while the workers build them: 0.95× the time of building the stores first at 50 clients, 0.90× at
    1,000 (paired runs of the whole apply)."""
    store_steps = [s for s in writes if s.artifact.role in _STORES]
    with stores.building([content.store_job(s.artifact, materials) for s in store_steps]) as built_stores:
        for step in writes:
            if step.artifact.role not in _STORES:
                yield step, content.build(step.artifact, materials)
        yield from zip(store_steps, built_stores())


def rollovers_made(plan: Plan, materials: Materials) -> dict[str, Rollover]:
    """The plan's rollovers, with the fingerprint of a new CA that this apply has just made."""
    done = {}
    for ca, r in plan.rollovers.items():
        new = r.new or materials[layout.other_identity(ca, layout.NEXT) if r.step == "trust" else ca].cert_fingerprint
        done[ca] = replace(r, new=new)
    return done


def _identities(plan: Plan) -> dict[str, Identity]:
    identities = {}
    made = [s.identity for s in plan.steps if isinstance(s, (MakeKey, IssueCert))]
    for name in dict.fromkeys([*plan.spec.cas, *plan.spec.entities, *plan.keys, *plan.certs, *made]):
        identity = identities[name] = Identity(name)
        if name in plan.keys:
            known = plan.keys[name]
            identity.key_pem, identity.key_fingerprint, identity.key_type = known.pem, known.fingerprint, known.key_type
        if name in plan.certs:
            identity.cert = pki.load_cert(plan.certs[name])
    return identities


def keys_ahead(spec, out: OutDir, ahead: pki.KeysAhead | None = None) -> pki.KeysAhead:
    """On a first apply (no state yet) every CA and entity of the spec gets a new key: start the RSA
    ones now, while the plan is made (pki.KeysAhead), up to KEYS_AHEAD of them, keeping those of
    `ahead` (started on a guess before the spec was read) that the spec needs. Any other apply
    makes only the keys its plan names, once it has it."""
    ahead = ahead if ahead is not None else pki.KeysAhead()
    if os.path.lexists(out.path(STATE)):
        ahead.want([])
        return ahead
    types = [ca.key for ca in spec.cas.values() if ca.imported is None] + [e.key for e in spec.entities.values()]
    ahead.want(types[:KEYS_AHEAD])
    return ahead


KEYS_AHEAD = 256  # about the first batch's: as many as a batch holds anyway


def start_making_keys(steps: list[MakeKey], materials: Materials,
                      ahead: pki.KeysAhead | None = None) -> Callable[[], None]:
    """Start making the keys (RSA in background threads; see pki.start_generate_keys); the result
    waits for them and hands them to their identities."""
    made = pki.start_generate_keys([s.key_type for s in steps], ahead)

    def wait() -> None:
        for step, key in zip(steps, made()):
            materials[step.identity].set_key(key)
    return wait


def issue_certificates(steps: list[IssueCert], materials: Materials, plan: Plan) -> None:
    """CA certificates in the plan's order (issuers before what they sign); leaves together, on every core."""
    for step in (s for s in steps if s.is_ca):
        me, want = materials[step.identity], step.want
        issuer_cert = materials[want.issuer].cert if want.issuer else None
        issuer_key = materials.signing_key(want.issuer) if want.issuer else None
        me.cert = pki.issue_ca(subject=want.subject, key=me.key(), issuer_cert=issuer_cert, issuer_key=issuer_key,
                               path_length=want.path_length, validity=want.validity.delta, now=plan.now)
    leaves = [s for s in steps if not s.is_ca]  # every issuer exists now
    orders = [pki.LeafOrder(subject=s.want.subject, public_key=materials[s.identity].key().public_key(),
                            issuer_cert=materials[s.want.issuer].cert, issuer_key=materials.signing_key(s.want.issuer),
                            usages=s.want.usages, validity=s.want.validity.delta, now=plan.now,
                            hostnames=s.want.hostnames, ip_addresses=s.want.ip_addresses) for s in leaves]
    for step, cert in zip(leaves, pki.issue_leaves(orders)):
        materials[step.identity].cert = cert


def checked_record(step: WriteFile, data: bytes, materials: Materials) -> FileRecord:
    """The file's record for the state, once it is shown to be what the plan said it would be."""
    a = step.artifact
    digest = materials.digest(data, a.secret)
    made_from = content.made_from(a, materials)
    if not step.matches(made_from, digest):
        raise InconsistentPlan(f"{a.path}: apply built other bytes, or from other inputs, than the plan showed")
    cert_pem = materials[a.name].cert_pem.decode() if a.role is content.Role.CERTIFICATE else None
    return FileRecord(a.part, a.role.value, digest, made_from, cert_pem)


def terminal_progress(stream=sys.stderr) -> Progress:
    """Progress lines on a terminal; nothing when stderr is not one (CI logs stay quiet)."""
    if not stream.isatty():
        return lambda msg: None
    return lambda msg: print(f"tlsgen: {msg}", file=stream, flush=True)
