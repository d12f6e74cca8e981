"""One diagnostic type for every user-facing error: where, which spec path, what, how to fix.

Diagnostics are collected (all of them, not the first) and printed once, sorted by place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True, order=True, slots=True)
class Place:
    """A position in a spec file; line and column count from 1, as editors show them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    place: Place | None
    path: str  # dotted spec path, e.g. "clients.kafka-tester.issuer"; "" for the whole file
    message: str
    hint: str | None = None

    @property
    def text(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def render(self) -> str:
        where = f"{self.place}: " if self.place else ""
        what = f"{self.path}: " if self.path else ""
        return f"{where}{what}{self.text}"

    def as_json(self) -> dict:
        place = self.place
        return {
            "file": place.file if place else None,
            "line": place.line if place else None,
            "column": place.column if place else None,
            "path": self.path,
            "message": self.text,
        }

    def sort_key(self) -> tuple:
        place = self.place or Place("", 0, 0)
        return (place.file, place.line, place.column, self.path, self.message)


class UserError(Exception):
    """Raised with every diagnostic of a user mistake; the CLI prints them and exits 1."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics), key=Diagnostic.sort_key)
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    @classmethod
    def single(cls, message: str, hint: str | None = None, path: str = "", place: Place | None = None) -> "UserError":
        return cls([Diagnostic(place, path, message, hint)])


def errors_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps({"errors": [d.as_json() for d in diagnostics]}, indent=2)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice as a hint, or None; used wherever a name is looked up."""
    import difflib  # only when a name is not found

    matches = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if not matches:
        # "issuing" vs "callisto-issuing": difflib's ratio is low for a suffix, but users mean it.
        matches = [c for c in sorted(choices) if word and (c.endswith(word) or c.startswith(word))][:1]
    return f"did you mean '{matches[0]}'?" if matches else None


def display_path(path: Path) -> str:
    """A file as the user would type it: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)
