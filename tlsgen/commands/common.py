"""Arguments several commands share, and where their human output goes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO


def add_spec(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", type=Path, default=None, metavar="SPEC",
                        help="spec file or directory (default: specs/)")


def add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output directory (default: the spec's output:, else out/)")


def add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as one JSON document on stdout (human output goes to stderr)")


def human(args: argparse.Namespace) -> TextIO:
    """Human output: stdout, or stderr when stdout carries JSON."""
    return sys.stderr if getattr(args, "json", False) else sys.stdout
