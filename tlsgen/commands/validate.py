"""tlsgen validate: parse and check the spec; write nothing."""

from __future__ import annotations

from .common import EXIT_OK, add_output_format, add_spec, human, print_json, warn

NAME = "validate"
HELP = "parse and check the spec; write nothing (exit 0 valid, 1 invalid)"
EXAMPLE = "  tlsgen validate specs/\n  tlsgen validate specs/tlsgen.yaml --json\n  tlsgen validate --format github"


def add_arguments(parser) -> None:
    add_spec(parser)
    add_output_format(parser, "the result")


def json_document(**values) -> dict:
    return {"valid": False, "errors": [], "warnings": [], **values}


def run(args) -> int:
    from ..model.read import read_spec

    spec = read_spec(args.spec)
    counts = f"{len(spec.cas)} CAs, {len(spec.entities)} entities, {len(spec.trusted)} trusted"
    warn(spec.warnings, args.format if not args.json else "text")
    if args.json:
        print_json(json_document(valid=True, warnings=[w.as_json() for w in spec.warnings]))
    shown = spec.inputs[0] if spec.source.is_file() and spec.inputs else spec.source
    print(f"{shown}: valid ({counts})", file=human(args))
    return EXIT_OK
