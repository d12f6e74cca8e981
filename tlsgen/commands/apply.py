"""tlsgen apply: make out/ match the spec."""

from __future__ import annotations

import os

from ..diagnostics import Diagnostic, UserError
from ..model.topology import Origin
from .common import add_json, add_out, add_spec, human
from .reconcile import add_renew_rotate, prepare

HELP = "make out/ match the spec: keys, certificates, stores and configs; print each change and a summary"
EXAMPLE = ("  tlsgen apply\n  tlsgen apply specs/ --out build/tls\n"
           "  tlsgen apply --renew kafka --rotate-key kafka-tester")


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)
    add_json(parser, "the applied plan")
    add_renew_rotate(parser)
    parser.add_argument("--lock-timeout", type=float, default=300, metavar="SECONDS",
                        help="how long to wait for another apply on the same output (default 300)")


def run(args) -> int:
    from ..reconcile.apply import apply_plan, terminal_progress
    from ..reconcile.plan import print_json
    from ..reconcile.planner import make_plan

    spec, out, options = prepare(args)
    check_owners(spec)
    stream = human(args)
    if not out.path(".tlsgen").exists():
        make_plan(spec, out, options)  # a first apply: find conflicts before the lock creates .tlsgen/
    with out.lock(args.lock_timeout):
        plan = make_plan(spec, out, options)  # under the lock: the plan is of what is really there
        if not plan.empty:
            plan.write_text(stream)
        apply_plan(plan, out, terminal_progress())
    if args.json:
        print_json({**plan.as_json(), "applied": True})
    print(f"apply complete: {plan.summary(done=True)}", file=stream)
    return 0


def check_owners(spec) -> None:
    """`owner:` needs the right to chown: say so before anything is written, not half-way, at the line
    that sets it (the entity's own `owner`, or `defaults.owner`)."""
    if os.geteuid() == 0:
        return
    problems = []
    for e in spec.entities.values():
        if e.owner is not None and e.owner[0] != os.geteuid():
            origin = spec.origin(e.name, "owner") or Origin(f"{e.kind}.{e.name}.owner", None)
            problems.append(Diagnostic(origin.place, origin.path,
                                       f"chown to {e.owner[0]} needs root; this apply runs as uid {os.geteuid()}",
                                       "run apply as root (e.g. in the container that mounts out/), or remove owner"))
    if problems:
        raise UserError(problems)
