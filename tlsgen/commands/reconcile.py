"""What plan and apply share: read the spec, open out/, the planning options."""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timezone



def add_renew_rotate(parser) -> None:
    parser.add_argument("--renew", action="append", default=[], metavar="NAME",
                        help="reissue this CA's or entity's certificate (repeatable); a CA reissues all below it")
    parser.add_argument("--rotate-key", action="append", default=[], metavar="NAME", dest="rotate_key",
                        help="make a new key for this CA or entity and reissue its certificate (repeatable); a CA "
                             "that truststores hold rolls over in three applies, without an outage")
    parser.add_argument("--continue", action="append", default=[], metavar="CA", dest="proceed",
                        help="take the next step of this CA's rollover (repeatable): issue, then retire")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="list every file that changes; without it, changes that are the same for many entities "
                             "of a kind are said once for all of them")
    parser.add_argument("--now", action="store_true",
                        help="with --rotate-key CA: replace the CA in this one apply (for a leaked key); old and "
                             "new services will not talk until all have restarted")


def prepare(args, now: datetime | None = None):
    """Validate (nothing is written on bad input), then the output directory and the planning options."""
    from ..model.read import read_spec
    from ..reconcile.outdir import OutDir
    from ..reconcile.planner import Options

    now = now or datetime.now(timezone.utc)
    spec = read_spec(args.spec, args.out, now)
    options = Options(now=now, renew=frozenset(args.renew), rotate=frozenset(args.rotate_key),
                      proceed=frozenset(args.proceed), at_once=args.now)
    return spec, OutDir(spec.output), options


def spec_warnings(spec) -> list:
    """What plan and apply warn about a valid spec: what validation found legal but probably not meant
    (two entities with one Kafka principal), and services whose user will not be able to read their files."""
    from ..model.ownership import ownership_warnings

    return [*spec.warnings, *ownership_warnings(spec, os.geteuid())]


def apply_command(args) -> str:
    """The apply command line the user would type next, with their spec and --out (for 'next:' hints)."""
    words = ["tlsgen", "apply"]
    if args.spec is not None:
        words.append(shlex.quote(str(args.spec)))
    if args.out is not None:
        words += ["--out", shlex.quote(str(args.out))]
    return " ".join(words)


def plan_json(**values) -> dict:
    """plan --json and apply --json: the same keys whatever the outcome."""
    return {"out": None, "changes": [], "summary": {"create": 0, "update": 0, "delete": 0}, "rollovers": [],
            "warnings": [], "errors": [], **values}
