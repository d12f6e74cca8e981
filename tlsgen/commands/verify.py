"""tlsgen verify."""

from __future__ import annotations

from .common import add_out, add_spec, not_implemented

HELP = "verify (not implemented yet)"
EXAMPLE = "  tlsgen verify specs/"


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)


def run(args) -> int:
    return not_implemented("verify")
