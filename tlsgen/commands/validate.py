"""tlsgen validate: parse and check the spec; write nothing."""

from __future__ import annotations

import json

from .common import add_json, add_spec, human

HELP = "parse and check the spec; write nothing (exit 0 valid, 1 invalid)"
EXAMPLE = "  tlsgen validate specs/\n  tlsgen validate specs/tlsgen.yaml --json"


def add_arguments(parser) -> None:
    add_spec(parser)
    add_json(parser, "the result")


def run(args) -> int:
    from ..model.read import read_spec

    spec = read_spec(args.spec)
    counts = f"{len(spec.cas)} CAs, {len(spec.entities)} entities, {len(spec.trusted)} trusted"
    if args.json:
        print(json.dumps({"valid": True, "errors": []}))
    print(f"{', '.join(str(f) for f in spec.inputs[:1]) if spec.source.is_file() else spec.source}: valid ({counts})",
          file=human(args))
    return 0
