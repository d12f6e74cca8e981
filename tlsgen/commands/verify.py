"""tlsgen verify: check out/ against the spec; write nothing."""

from __future__ import annotations

from datetime import datetime, timezone

from .common import EXIT_ERROR, EXIT_OK, add_out, add_output_format, add_spec, annotation, human, print_json

NAME = "verify"
HELP = ("check out/ against the spec without writing: chains, key/certificate match, stores open with "
        "their passwords, SANs, expiry, file modes (exit 1 on problems)")
EXAMPLE = "  tlsgen verify\n  tlsgen verify specs/ --out build/tls"


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)
    add_output_format(parser, "the problems and warnings")


def json_document(**values) -> dict:
    return {"problems": [], "warnings": [], "checked": 0, "errors": [], **values}


def run(args) -> int:
    from ..audit.verify import verify
    from ..model.read import read_spec
    from ..reconcile.outdir import OutDir

    spec = read_spec(args.spec, args.out)
    out = OutDir(spec.output)
    problems, checked = verify(spec, out, datetime.now(timezone.utc))
    errors = [p for p in problems if not p.warning]
    warnings = [p for p in problems if p.warning]
    if args.json:
        print_json(json_document(problems=[p.as_json(out) for p in errors], warnings=[p.as_json(out) for p in warnings],
                                 checked=checked))
    elif args.format == "github":
        for p in problems:
            print(annotation("warning" if p.warning else "error", p.message, str(out.path(p.path))))
    else:
        for p in problems:
            print(p.render(out))
    print(f"checked {checked} files of {len(spec.cas)} CAs and {len(spec.entities)} entities: "
          + (f"{len(errors)} problem{'s' if len(errors) != 1 else ''}" if errors else "no problems")
          + (f", {len(warnings)} warnings" if warnings else ""), file=human(args) if args.json else None)
    return EXIT_ERROR if errors else EXIT_OK
