"""tlsgen schema: print the spec's JSON Schema."""

from __future__ import annotations

import json

HELP = "print the spec's JSON Schema, for editor completion and hover docs"
EXAMPLE = ("  tlsgen schema > tlsgen.schema.json\n"
           "  # then start a spec with: # yaml-language-server: $schema=tlsgen.schema.json")


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from ..spec.schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0
