"""Check out/ against the spec without writing: the gate a pipeline runs before it ships.

Three views, one line per problem: the drift `plan` sees (every managed file's content, configs
included, its mode and owner, files missing or in the way), what the consumers would trip over
(chains, key/certificate match, stores opened with their password files, SANs, validity), and,
with a window, every certificate tlsgen wrote or trusts that ends within it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..diagnostics import UserError
from ..model import Spec
from ..reconcile.outdir import OutDir
from ..reconcile.planner import Options, make_plan
from ..reconcile.reasons import Action
from ..reconcile.rollover import Move
from ..reconcile.state import load
from .consumers import Problem, consumer_problems
from .expiry import certificates, expiring

# What apply would do about a file, in verify's words.
_REMEDY = {Action.CREATE: "apply creates it", Action.UPDATE: "apply updates it", Action.REPAIR: "apply repairs it",
           Action.ROTATE: "apply replaces it", Action.RENEW: "apply reissues it", Action.DELETE: "apply deletes it"}
# Reasons said elsewhere: expiry by the consumer checks (with the dates), and the knock-on changes of
# a certificate or key being replaced, whose own file carries the cause.
_SAID_ELSEWHERE = {"expiring", "expired", "cert_reissued", "issuer_reissued", "trust_changed", "key_rotated"}


@dataclass(frozen=True)
class Report:
    problems: list[Problem]
    warnings: list[Problem]
    checked: int


def verify(spec: Spec, out: OutDir, now: datetime, *, expiring_within: timedelta | None = None,
           window_text: str = "") -> Report:
    consumer, checked, drifted = _both(spec, out, now)
    # One line per file: what a consumer trips over, then what apply would do about it.
    remedies = {p.path: p.message for p in drifted if not p.warning}
    found = [Problem(p.path, f"{p.message}; {remedies[p.path]}", p.warning) if p.path in remedies else p
             for p in consumer]
    said = {p.path for p in consumer}
    found += [p for p in drifted if p.path not in said or p.warning]
    if expiring_within is not None:
        found += [Problem(h.where, h.sentence(window_text)) for h in expiring(certificates(spec, out), now,
                                                                                expiring_within)]
    seen, unique = set(), []
    for p in found:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            unique.append(p)
    return Report([p for p in unique if not p.warning], [p for p in unique if p.warning], checked)


def _both(spec: Spec, out: OutDir, now: datetime) -> tuple[list[Problem], int, list[Problem]]:
    """The consumer checks and the drift, side by side: the consumer checks (opening every store as
    Java would, its MAC derived in Python) in a forked child while this process plans, so that each
    takes a core (300 rsa clients: 1.58 -> 1.32 s). One after the other where a child cannot run."""
    import pickle

    from ..crypto import workers

    same, drifted = unchanged(out), None
    try:
        with workers.in_background(lambda: pickle.dumps(consumer_problems(spec, out, now, same))) as consumer:
            drifted = drift(spec, out, now)
            found, checked = pickle.loads(consumer())  # our own child's bytes, over a pipe
    except workers.WorkerError:
        found, checked = consumer_problems(spec, out, now, same)
    return found, checked, drifted if drifted is not None else drift(spec, out, now)


def drift(spec: Spec, out: OutDir, now: datetime) -> list[Problem]:
    """What `plan` would change, each change a problem: out/ differs from what apply makes of the spec."""
    try:
        plan = make_plan(spec, out, Options(now=now))
    except UserError as exc:  # a file in the way: the plan itself is refused
        return [Problem("", d.text) for d in exc.diagnostics]
    problems = []
    for change in plan.changes:
        reasons = [r for r in change.reasons if r.code not in _SAID_ELSEWHERE]
        if not reasons:
            continue
        said = "; ".join(r.text for r in reasons)
        problems.append(Problem(change.path, f"{said} (tlsgen {_REMEDY[change.action]})"))
    for note in plan.notes:
        if note.move is Move.STAY and note.rollover is not None:
            r = note.rollover
            problems.append(Problem(f"cas/{note.ca}", f"a rollover of CA {note.ca} is in progress: step {r.number} of 3 "
                                    f"({r.step}) done; next: tlsgen apply --continue {note.ca}", warning=True))
    return problems


def unchanged(out: OutDir) -> frozenset[str]:
    """Files whose bytes are what tlsgen recorded writing (their HMAC or hash still matches)."""
    stored = load(out)
    digest = stored.digest
    same = set()
    for path, record in stored.state.files.items():
        data = out.read(path).data
        if data is not None and digest(data, record.digest.startswith("hmac:")) == record.digest:
            same.add(path)
    return frozenset(same)
