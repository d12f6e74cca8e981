"""tlsgen watch."""

from __future__ import annotations

from .common import add_out, add_spec, not_implemented

HELP = "watch (not implemented yet)"
EXAMPLE = "  tlsgen watch specs/"


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)


def run(args) -> int:
    return not_implemented("watch")
