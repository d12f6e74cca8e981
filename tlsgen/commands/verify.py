"""tlsgen verify: check out/ against the spec; write nothing."""

from __future__ import annotations

from datetime import datetime, timezone

from .common import add_out, add_spec

HELP = ("check out/ against the spec without writing: chains, key/certificate match, stores open with "
        "their passwords, SANs, expiry, file modes (exit 1 on problems)")
EXAMPLE = "  tlsgen verify\n  tlsgen verify specs/ --out build/tls"


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)


def run(args) -> int:
    from ..audit.verify import verify
    from ..model.read import read_spec
    from ..reconcile.outdir import OutDir

    spec = read_spec(args.spec, args.out)
    out = OutDir(spec.output)
    problems, checked = verify(spec, out, datetime.now(timezone.utc))
    for p in problems:
        print(p.render(out))
    errors = [p for p in problems if not p.warning]
    print(f"checked {checked} files of {len(spec.cas)} CAs and {len(spec.entities)} entities: "
          + (f"{len(errors)} problem{'s' if len(errors) != 1 else ''}" if errors else "no problems")
          + (f", {len(problems) - len(errors)} warnings" if len(problems) > len(errors) else ""))
    return 1 if errors else 0
