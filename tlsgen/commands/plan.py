"""tlsgen plan: show what apply would change, and why; write nothing."""

from __future__ import annotations

from .common import EXIT_OK, EXIT_PENDING, add_out, add_output_format, add_spec, human, print_json, warn
from .reconcile import add_renew_rotate, apply_command, plan_json, prepare, spec_warnings

NAME = "plan"
HELP = "show what apply would create, update, renew and delete, and why; write nothing"
EXAMPLE = ("  tlsgen plan\n  tlsgen plan specs/ --out build/tls --detailed-exitcode   # 2 when changes are pending\n"
           "  tlsgen plan --json | jq '.changes[].path'")


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)
    add_output_format(parser, "the plan")
    add_renew_rotate(parser)
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 2 when there are changes, 0 when there are none, 1 on errors")


json_document = plan_json


def run(args) -> int:
    from ..reconcile.planner import make_plan

    spec, out, options = prepare(args)
    warnings = spec_warnings(spec)
    warn(warnings, args.format)
    plan = make_plan(spec, out, options)
    if args.json:
        print_json(plan_json(**plan.as_json(apply_command(args)), warnings=[w.as_json() for w in warnings]))
    else:
        plan.write_text(human(args), verbose=args.verbose)
        plan.write_notes(human(args), apply_command(args))
    return EXIT_PENDING if args.detailed_exitcode and not plan.empty else EXIT_OK
