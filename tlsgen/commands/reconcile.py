"""What plan and apply share: read the spec, open out/, the planning options."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path


def add_renew_rotate(parser) -> None:
    parser.add_argument("--renew", action="append", default=[], metavar="NAME",
                        help="reissue this CA's or entity's certificate (repeatable); a CA reissues all below it")
    parser.add_argument("--rotate-key", action="append", default=[], metavar="NAME", dest="rotate_key",
                        help="make a new key for this CA or entity and reissue its certificate (repeatable)")


def prepare(source: Path | None, out: Path | None, renew: list[str], rotate: list[str],
            now: datetime | None = None):
    """Validate (nothing is written on bad input), then the output directory and the planning options."""
    from ..model.resolve import read_spec
    from ..reconcile.outdir import OutDir
    from ..reconcile.planner import Options

    now = now or datetime.now(timezone.utc)
    spec = read_spec(source, out, now)
    return spec, OutDir(spec.output), Options(now=now, renew=frozenset(renew), rotate=frozenset(rotate))


def plan_json(**values) -> dict:
    """plan --json and apply --json: the same keys whatever the outcome."""
    return {"out": None, "changes": [], "summary": {"create": 0, "update": 0, "delete": 0}, "warnings": [],
            "errors": [], **values}
