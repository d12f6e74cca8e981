"""What the commands share: arguments, exit codes, where human output goes, JSON, annotations, progress.

Nothing here imports more than the standard library: every command module imports this at start-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Iterable, TextIO

EXIT_OK, EXIT_ERROR, EXIT_PENDING, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
PROGRESS_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal (CI logs show life)


def path_argument(text: str):
    """A path argument; pathlib is imported when one is given (not for --version or --help)."""
    from pathlib import Path

    return Path(text)


def add_spec(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", type=path_argument, default=None, metavar="SPEC",
                        help="spec file or directory (default: specs/)")


def add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=path_argument, default=None, metavar="DIR",
                        help="output directory (default: the spec's output:, else out/)")


def add_output_format(parser: argparse.ArgumentParser, what: str, *, github: bool = True) -> None:
    """--json, and (where errors and problems have places) --format github; one or the other."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true",
                       help=f"print {what} as one JSON document on stdout (human output goes to stderr); "
                            "its keys are the same whatever the outcome")
    if github:
        group.add_argument("--format", choices=("text", "github"), default="text",
                           help="github: errors and problems as GitHub Actions annotations "
                                "(::error file=F,line=L,col=C::message), shown on a pull request's lines")


def duration(text: str):
    """--expiring-within's value: a duration as the spec writes them (30d, 12h)."""
    from ..spec.duration import Duration

    try:
        return Duration.parse(text)
    except ValueError as exc:  # pydantic's error type is a ValueError
        raise argparse.ArgumentTypeError(str(exc).splitlines()[0]) from None


def add_expiring_within(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expiring-within", type=duration, default=None, metavar="DURATION",
                        help="exit 1 if any certificate tlsgen wrote or trusts (CAs, imported and trusted ones "
                             "included) ends within DURATION, such as 30d or 12h; each is named with its date")


def human(args: argparse.Namespace) -> TextIO:
    """Human output: stdout, or stderr when stdout carries JSON."""
    return sys.stderr if getattr(args, "json", False) else sys.stdout


def print_json(doc: dict) -> None:
    import json

    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


def annotation(level: str, message: str, file: str | None = None, line: int | None = None,
               col: int | None = None) -> str:
    """A GitHub Actions workflow command: `::error file=F,line=L,col=C::message`, escaped as the
    runner expects (actions/toolkit core/command.ts: % CR LF in the message; also : and , in values)."""
    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")
    props = ",".join(f"{key}={prop(str(value))}" for key, value in (("file", file), ("line", line), ("col", col))
                     if value is not None)
    return f"::{level}{' ' + props if props else ''}::{data(message)}"


def report(diagnostics: Iterable, output_format: str = "text") -> None:
    """Spec errors: located lines on stderr, or annotations on stdout for --format github."""
    for d in diagnostics:
        if output_format == "github":
            place = d.place
            text = f"{d.path}: {d.text}" if d.path else d.text
            print(annotation("error", text, place.file if place else None, place.line if place else None,
                             place.column if place else None))
        else:
            print(d.render(), file=sys.stderr)


def warn(warnings: Iterable, output_format: str = "text") -> None:
    """Warnings (diagnostics that stop nothing): `warning: place: path: message` lines on stderr, or
    `::warning` annotations on stdout for --format github."""
    for d in warnings:
        if output_format == "github":
            place = d.place
            print(annotation("warning", f"{d.path}: {d.text}" if d.path else d.text, place.file if place else None,
                             place.line if place else None, place.column if place else None))
        else:
            print(f"warning: {d.render()}", file=sys.stderr)


def progress_printer(stream: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic) -> Callable[[str], None]:
    """Progress lines: each one on a terminal; elsewhere at most one every PROGRESS_EVERY seconds, so
    a short run prints nothing and a long one shows life in a CI log."""
    if stream.isatty():
        return lambda msg: print(f"tlsgen: {msg}", file=stream, flush=True)
    last = clock()

    def every_few_seconds(msg: str) -> None:
        nonlocal last
        if clock() - last >= PROGRESS_EVERY:
            last = clock()
            print(f"tlsgen: {msg}", file=stream, flush=True)
    return every_few_seconds


class PipeSafeStdout:
    """sys.stdout that survives its reader going away or its file failing: once a write or flush meets
    a closed pipe, or any other error (a full disk, an I/O error), the rest of the output is dropped
    (the fd is pointed at /dev/null so that Python's own flush at exit does not fail too) and the
    command carries on. A closed pipe is the reader's choice (`| head -1`): the command keeps its own
    exit status. Any other error is kept in `failed`, for the caller to report: output that was lost
    is not a success."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.broken = False
        self.failed: OSError | None = None

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._drop(exc)
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except OSError as exc:
                self._drop(exc)

    def _drop(self, exc: OSError) -> None:
        self.broken = True
        if not isinstance(exc, BrokenPipeError):
            self.failed = exc
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to redirect
            pass

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
