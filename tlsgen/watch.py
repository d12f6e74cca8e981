"""The watch loop: apply now, then after every relevant change, and whenever a renewal falls due.

Relevant: a spec file (or a *.yaml/*.yml added to or removed from a spec directory) and every file
the spec references (imported CA certificate or key, trusted certificates, password files).
Changes inside out/ never trigger a cycle. An invalid edit is reported and changes nothing; the
next valid save recovers. The clock is passed in; watchfiles debounces bursts of saves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, TextIO

import watchfiles

from .reconcile.apply import apply_plan
from .diagnostics import UserError
from .reconcile.outdir import OutDir
from .reconcile.planner import Options, make_plan
from .model.read import DEFAULT_SPEC, read_spec

MAX_SLEEP = timedelta(hours=1)
DEBOUNCE_MS = 200


@dataclass
class Cycle:
    """What one plan-and-apply left behind: the files to watch next and when to wake at the latest."""

    inputs: set[Path]
    out: Path | None
    next_due: datetime | None
    stamp: frozenset = frozenset()  # (path, mtime, size) of every input when this cycle read them


class Watcher:
    def __init__(self, source: Path | None, out: Path | None, stream: TextIO, errors: TextIO,
                 now: Callable[[], datetime], lock_timeout: float = 300):
        self.source = (source or DEFAULT_SPEC).absolute()
        self.out_override = out
        self.stream, self.errors, self.now = stream, errors, now
        self.lock_timeout = lock_timeout
        self.stop = threading.Event()
        self.last = Cycle(set(), None, None)

    def say(self, text: str, error: bool = False) -> None:
        print(f"[{self.now().astimezone():%H:%M:%S}] {text}", file=self.errors if error else self.stream, flush=True)

    def spec_files(self) -> set[Path]:
        if self.source.is_dir():
            return {p for p in self.source.iterdir() if p.suffix in (".yaml", ".yml")}
        return {self.source}

    def stamp(self, inputs: set[Path]) -> frozenset:
        """(path, mtime, size) of the inputs and spec files, to tell a save the notifier did not report."""
        return _stamps(inputs | self.spec_files())

    def cycle(self, why: str) -> None:
        self.last_cycle_at = self.now()
        stamp = self.stamp(self.last.inputs)
        try:
            spec = read_spec(self.source, self.out_override, self.now())
        except UserError as exc:
            self.failed(f"{why}: the spec has errors; out/ is left as it was", exc, stamp)
            return
        inputs = {p.absolute() for p in spec.inputs} | self.spec_files()
        # Files the spec newly references, stamped as soon as they were read: a save during the
        # apply below then differs from the stamp and triggers the next cycle.
        stamp |= _stamps(inputs - {path for path, *_ in stamp})
        try:
            out = OutDir(spec.output)
            with out.lock(self.lock_timeout, notify=lambda msg: self.say(msg, error=True)):
                plan = make_plan(spec, out, Options(now=self.now()))
                apply_plan(plan, out)
        except UserError as exc:  # the machine's answer (a full disk, a file in the way): maybe half-applied
            self.failed(f"{why}: apply stopped; the next cycle completes it once this is fixed", exc, stamp)
            return
        self.say(f"{why}: {plan.summary(done=True)}")
        for warning in spec.warnings:
            print(f"  warning: {warning.render()}", file=self.errors, flush=True)
        if not plan.empty:
            plan.write_text(self.stream)
        self.last = Cycle(inputs, out.root.absolute(), plan.next_due, stamp)

    def failed(self, headline: str, exc: UserError, stamp: frozenset) -> None:
        self.say(headline, error=True)
        for diagnostic in exc.diagnostics:
            print(f"  {diagnostic.render()}", file=self.errors, flush=True)
        self.last = Cycle(self.last.inputs | self.spec_files(), self.last.out, self.last.next_due, stamp)

    def relevant(self, changes: set[tuple[watchfiles.Change, str]]) -> list[Path]:
        hits = []
        for _, raw in changes:
            path = Path(raw)
            if self.last.out is not None and (path == self.last.out or self.last.out in path.parents):
                continue
            in_spec_dir = self.source.is_dir() and path.parent == self.source and path.suffix in (".yaml", ".yml")
            if in_spec_dir or path in self.last.inputs:
                hits.append(path)
        return hits

    def watched_dirs(self) -> list[Path]:
        dirs = {self.source if self.source.is_dir() else self.source.parent}
        dirs |= {p.parent for p in self.last.inputs}
        return sorted(d for d in dirs if d.is_dir())

    def run(self) -> None:
        self.cycle("start")
        while not self.stop.is_set():
            dirs = self.watched_dirs()
            inputs = set(self.last.inputs)
            for changes in watchfiles.watch(*dirs, watch_filter=None, debounce=DEBOUNCE_MS, step=50,
                                            stop_event=self.stop, rust_timeout=1_000, yield_on_timeout=True,
                                            recursive=False):
                if self.stop.is_set():
                    return
                hits = self.relevant(changes)
                if not hits and self.stamp(self.last.inputs) != self.last.stamp:
                    # saved before the watcher started, or missed by the OS notifier: stamps tell
                    hits = sorted({p for p, *_ in self.stamp(self.last.inputs) - self.last.stamp})
                if hits:
                    names = ", ".join(sorted({p.name for p in hits}))
                    self.cycle(f"changed: {names}")
                elif self.last.next_due is not None and self.now() >= self.last.next_due:
                    self.cycle("a certificate is due for renewal")
                elif self.now() - self.last_cycle_at >= MAX_SLEEP:
                    self.cycle("hourly check")
                if self.last.inputs != inputs or self.watched_dirs() != dirs:
                    break  # the spec now references other files: watch their directories too


def _stamps(paths: set[Path]) -> frozenset:
    stamps = set()
    for path in paths:
        try:
            info = path.stat()
            stamps.add((path, info.st_mtime_ns, info.st_size))
        except OSError:
            stamps.add((path, None, None))
    return frozenset(stamps)
