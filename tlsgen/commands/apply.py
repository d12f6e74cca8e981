"""tlsgen apply: make out/ match the spec."""

from __future__ import annotations

import os

from .common import EXIT_OK, add_out, add_output_format, add_spec, human, path_argument, print_json, progress_printer, warn
from .reconcile import add_renew_rotate, apply_command, plan_json, prepare, spec_warnings

NAME = "apply"
HELP = "make out/ match the spec: keys, certificates, stores and configs; print each change and a summary"
EXAMPLE = ("  tlsgen apply\n  tlsgen apply specs/ --out build/tls\n"
           "  tlsgen apply --renew kafka --rotate-key kafka-tester")


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)
    add_output_format(parser, "the applied plan")
    add_renew_rotate(parser)
    parser.add_argument("--lock-timeout", type=float, default=300, metavar="SECONDS",
                        help="how long to wait for another apply on the same output (default 300)")


def json_document(**values) -> dict:
    return plan_json(**{"applied": False, **values})


def run(args) -> int:
    from datetime import datetime, timezone

    from ..reconcile import shortcut

    now = datetime.now(timezone.utc)
    plain = not (args.renew or args.rotate_key or args.proceed or args.now)
    spec_arg = args.spec if args.spec is not None else path_argument("specs")
    shown = shortcut.unchanged(spec_arg, args.out, os.geteuid(), now) if plain else None
    if shown is not None:  # nothing the plan depends on changed, and out/ is as the last apply left it
        if args.json:
            print_json(json_document(out=shown, applied=True))
        print("apply complete: no changes", file=human(args))
        return EXIT_OK
    from ..crypto import pki

    # A first apply's RSA keys are the slowest step: a few start now, on the core that would wait
    # while the spec is read and planned (what reading it finds is kept, keys_ahead).
    ahead = pki.KeysAhead(pki.keys_guessed(shortcut.first_apply_rsa(spec_arg, args.out)))
    try:
        return apply_planned(args, now, spec_arg, ahead)
    finally:
        ahead.cancel()


def apply_planned(args, now, spec_arg, ahead) -> int:
    from ..reconcile import shortcut
    from ..reconcile.apply import apply_plan, keys_ahead
    from ..reconcile.planner import make_plan

    spec, out, options = prepare(args, now)
    check_owners(spec)
    warnings = spec_warnings(spec)
    warn(warnings, args.format)
    stream = human(args)
    with out.lock(args.lock_timeout, first_apply_undone_on_error=True):
        keys_ahead(spec, out, ahead)  # a first apply's RSA keys, made while it plans
        plan = make_plan(spec, out, options)  # under the lock: the plan is of what is really there
        if not plan.empty:
            plan.write_text(stream, verbose=args.verbose)
        # What the next plain apply depends on (options only change this apply, not the next).
        record = None if warnings else shortcut.record(spec_arg, args.out, spec, plan, os.geteuid())
        apply_plan(plan, out, progress_printer(), shortcut=record, ahead=ahead)
    if args.json:
        print_json(json_document(**plan.as_json(apply_command(args)), applied=True,
                                 warnings=[w.as_json() for w in warnings]))
    print(f"apply complete: {plan.summary(done=True)}", file=stream)
    plan.write_notes(stream, apply_command(args), done=True)
    return EXIT_OK


def check_owners(spec) -> None:
    """`owner:` needs the right to chown: say so before anything is written, not half-way, at the line
    that sets it (the entity's own `owner`, or `defaults.owner`)."""
    from ..diagnostics import Diagnostic, UserError
    from ..model import Origin

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
