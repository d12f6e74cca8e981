"""tlsgen plan: show what apply would change, and why; write nothing."""

from __future__ import annotations

from .common import add_json, add_out, add_spec, human
from .reconcile import add_renew_rotate, plan_for

HELP = "show what apply would create, update, renew and delete, and why; write nothing"
EXAMPLE = ("  tlsgen plan\n  tlsgen plan specs/ --out build/tls --detailed-exitcode   # 2 when changes are pending\n"
           "  tlsgen plan --json | jq '.changes[].path'")


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)
    add_json(parser, "the plan")
    add_renew_rotate(parser)
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 2 when there are changes, 0 when there are none, 1 on errors")


def run(args) -> int:
    from ..reconcile.plan import print_json

    plan, _ = plan_for(args)
    if args.json:
        print_json(plan.as_json())
    else:
        plan.write_text(human(args))
    return 2 if args.detailed_exitcode and not plan.empty else 0
