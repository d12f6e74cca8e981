"""What plan and apply share: read the spec, open out/, make the plan."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..reconcile.outdir import OutDir
    from ..reconcile.plan import Plan


def add_renew_rotate(parser) -> None:
    parser.add_argument("--renew", action="append", default=[], metavar="NAME",
                        help="reissue this CA's or entity's certificate (repeatable); a CA reissues all below it")
    parser.add_argument("--rotate-key", action="append", default=[], metavar="NAME", dest="rotate_key",
                        help="make a new key for this CA or entity and reissue its certificate (repeatable)")


def prepare(args, now: datetime | None = None):
    """Validate (nothing is written on bad input), then the output directory and the planning options."""
    from ..model.read import read_spec
    from ..reconcile.outdir import OutDir
    from ..reconcile.planner import Options

    now = now or datetime.now(timezone.utc)
    spec = read_spec(args.spec, args.out, now)
    out = OutDir(spec.output)
    options = Options(now=now,
                      renew=frozenset(getattr(args, "renew", []) or []),
                      rotate=frozenset(getattr(args, "rotate_key", []) or []))
    return spec, out, options


def plan_for(args) -> tuple[Plan, OutDir]:
    from ..reconcile.planner import make_plan

    spec, out, options = prepare(args)
    return make_plan(spec, out, options), out
