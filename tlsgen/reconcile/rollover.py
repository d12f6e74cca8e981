"""Rotating a CA without an outage: which step of a rollover an apply takes, as one small policy.

A CA that some truststore holds is never replaced in one apply (a flag day: every service restarted
with the new files refuses every service still on the old ones). It rolls over in three applies:
  trust   the new CA is made and trusted beside the old one; nothing below it changes
  issue   everything below it is reissued under the new CA; both are still trusted
  retire  the old certificate leaves every truststore, and its files go
The first is taken by the apply that sees the change (--rotate-key, a new key type or subject, an
imported certificate with a new key); each next one only by `apply --continue CA`, so a pipeline
that re-runs apply never skips ahead. `--rotate-key CA --now` is the flag day, for a leaked key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .reasons import Reason
from .state import Rollover


class Move(str, Enum):
    NONE = "none"  # no rollover: plan the CA as always
    START = "start"  # take the trust step
    STAY = "stay"  # a rollover is in progress and this apply does not continue it
    ADVANCE = "advance"  # --continue after the trust step: take the issue step
    RETIRE = "retire"  # --continue after the issue step: take the retire step
    FLAG_DAY = "flag_day"  # --now, or nothing to overlap: replace the CA in this one apply


@dataclass(frozen=True)
class CaFacts:
    ca: str
    stored: Rollover | None  # the rollover in progress, as the state records it
    continue_requested: bool  # --continue CA
    now_requested: bool  # --rotate-key CA --now
    trusted: bool  # some truststore or ca.pem holds this CA's certificate
    exists: bool  # the CA has a certificate already
    change: Reason | None  # why the CA would get a new key or subject, if it would


def decide(f: CaFacts) -> Move:
    if f.now_requested and (f.change is not None or f.stored is not None):
        return Move.FLAG_DAY
    if f.stored is not None:
        if not f.continue_requested:
            return Move.STAY
        return Move.ADVANCE if f.stored.step == "trust" else Move.RETIRE
    if f.change is None:
        return Move.NONE
    if f.trusted and f.exists:
        return Move.START
    return Move.FLAG_DAY  # nothing holds it, or nothing to overlap with: one apply is already safe


@dataclass(frozen=True)
class Note:
    """What a plan says about one CA's rollover: the move it makes and where that leaves it."""

    ca: str
    move: Move
    rollover: Rollover | None  # after this apply; None when none is in progress any more
    warn_flag_day: bool = False  # a flag day for a CA that truststores hold: old and new will not talk
    restart: tuple[str, ...] = ()  # the compose services whose mounted files this apply changes

    def as_json(self, command: str) -> dict:
        r = self.rollover
        doc = {"ca": self.ca, "move": self.move.value, "flag_day": self.warn_flag_day, "restart": list(self.restart)}
        if r is not None:
            doc.update(step=r.step, step_number=r.number, started=r.started, old=r.old, new=r.new,
                       next_step=r.next_step, next_command=f"{command} --continue {self.ca}")
        return doc

    def lines(self, command: str, done: bool) -> list[str]:
        r = self.rollover
        if self.warn_flag_day:
            return [f"CA {self.ca} is replaced in this one apply (--now): services restarted with the new files and "
                    "services still on the old ones will not talk to each other until all have restarted"]
        if self.move is Move.RETIRE:
            return [f"rollover of CA {self.ca}: step 3 of 3 (retire) {'done' if done else 'in this apply'}: the old "
                    "certificate leaves every truststore",
                    f"  next: restart {', '.join(self.restart) or 'none'} to finish"]
        if r is None:
            return []
        what = {"trust": "the new CA is made and trusted beside the old one; nothing below it changes",
                "issue": "everything below it is reissued under the new CA; both stay trusted"}[r.step]
        taken = self.move in (Move.START, Move.ADVANCE)
        state = ("done" if done else "in this apply") if taken else "done"
        restart = ", ".join(r.restart) if r.restart else "none"
        nxt = {"issue": "reissue everything below it under the new CA", "retire": "stop trusting the old CA"}[r.next_step]
        return [f"rollover of CA {self.ca}: step {r.number} of 3 ({r.step}) {state}: {what}",
                f"  next: restart {restart}; then `{command} --continue {self.ca}` (step {r.number + 1}: {nxt})"]
