"""tlsgen verify: check out/ against the spec; write nothing."""

from __future__ import annotations

from datetime import datetime, timezone

from .common import (EXIT_ERROR, EXIT_OK, add_expiring_within, add_out, add_output_format, add_spec, annotation, human,
                     print_json)

NAME = "verify"
HELP = ("check out/ against the spec without writing: every managed file as plan sees it (configs included), "
        "modes and owners, chains, key/certificate match, stores opened with their passwords, SANs, validity; "
        "with --expiring-within, every certificate tlsgen wrote or trusts (exit 1 on problems)")
EXAMPLE = ("  tlsgen verify\n  tlsgen verify specs/ --out build/tls --expiring-within 30d   # a pipeline gate\n"
           "  tlsgen verify --json | jq -r '.problems[].message'")


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)
    add_output_format(parser, "the problems and warnings")
    add_expiring_within(parser)


def json_document(**values) -> dict:
    return {"problems": [], "warnings": [], "checked": 0, "errors": [], **values}


def run(args) -> int:
    from ..audit.verify import verify
    from ..model.read import read_spec
    from ..reconcile.outdir import OutDir

    now = datetime.now(timezone.utc)
    spec = read_spec(args.spec, args.out, now)
    out = OutDir(spec.output)
    window = args.expiring_within
    report = verify(spec, out, now, expiring_within=window.delta if window else None, window_text=str(window))
    if args.json:
        print_json(json_document(problems=[p.as_json(out) for p in report.problems],
                                 warnings=[p.as_json(out) for p in report.warnings], checked=report.checked))
    elif args.format == "github":
        for p in report.problems + report.warnings:
            print(annotation("warning" if p.warning else "error", p.message, p.shown_path(out)))
    else:
        for p in report.problems + report.warnings:
            print(p.render(out))
    errors, warnings = len(report.problems), len(report.warnings)
    print(f"checked {report.checked} files of {len(spec.cas)} CAs and {len(spec.entities)} entities: "
          + (f"{errors} problem{'s' if errors != 1 else ''}" if errors else "no problems")
          + (f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""),
          file=human(args) if args.json or args.format == "github" else None)
    return EXIT_ERROR if report.problems else EXIT_OK
