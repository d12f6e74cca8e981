"""tlsgen status: an inventory of what out/ holds."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from .common import EXIT_ERROR, EXIT_OK, add_expiring_within, add_out, add_output_format, add_spec, human, print_json

NAME = "status"
HELP = ("inventory: each certificate's subject, SANs, issuer, expiry, days left, Kafka principal and ACLs, "
        "MongoDB X.509 user and files")
EXAMPLE = ("  tlsgen status\n  tlsgen status --expiring-within 14d   # exit 1 if anything ends within 14 days\n"
           "  tlsgen status --json | jq -r '.items[] | select(.days_left < 30) | .name'")


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)
    add_output_format(parser, "the inventory", github=False)
    add_expiring_within(parser)


def json_document(**values) -> dict:
    return {"items": [], "acls": [], "rollovers": [], "expiring": [], "errors": [], **values}


def run(args) -> int:
    from ..audit.expiry import certificates, expiring
    from ..audit.inventory import inventory
    from ..diagnostics import display_path
    from ..model.acls import bindings
    from ..model.read import read_spec
    from ..reconcile.outdir import OutDir
    from ..reconcile.state import load

    now = datetime.now(timezone.utc)
    spec = read_spec(args.spec, args.out, now)
    out = OutDir(spec.output)
    items = inventory(spec, out, now)
    rollovers = list(load(out).state.rollovers.values())
    window = args.expiring_within
    ending = expiring(certificates(spec, out), now, window.delta) if window else []
    code = EXIT_ERROR if ending else EXIT_OK
    acls = bindings(spec)
    if args.json:
        print_json(json_document(items=[i.as_json() for i in items], acls=[b.as_json() for b in acls],
                                 rollovers=[{k: r.as_json()[k] for k in ("ca", "step", "started", "old", "new", "restart")}
                                            for r in rollovers],
                                 expiring=[h.as_json(now) for h in ending]))
        return code
    stream = human(args)
    for held in ending:
        print(f"expiring: {display_path(held.where)}: {held.sentence(str(window))}", file=sys.stderr)
    for r in rollovers:
        print(f"rollover of CA {r.ca}: step {r.number} of 3 ({r.step}) done since {r.started}; next: restart "
              f"{', '.join(r.restart) or 'none'}, then `tlsgen apply --continue {r.ca}`", file=stream)
    for item in items:
        where = f"{item.kind}/{item.name}"
        if item.subject is None:
            print(f"{where}: not applied yet (run tlsgen apply)", file=stream)
            continue
        print(f"{where}", file=stream)
        print(f"  subject     {item.subject}", file=stream)
        if item.sans:
            print(f"  SANs        {', '.join(item.sans)}", file=stream)
        print(f"  issuer      {item.issuer or '(self-signed)'}", file=stream)
        print(f"  not after   {item.not_after}  ({item.days_left} days left)", file=stream)
        if item.mongodb_user:
            print(f"  Kafka       {item.kafka_principal or 'none: no principal mapping rule matches'}", file=stream)
            for line in acl_lines([b for b in acls if b.entity == item.name]):
                print(f"  ACL         {line}", file=stream)
            print(f"  MongoDB     {item.mongodb_user}  (X.509 user in $external)", file=stream)
        print(f"  files       {' '.join(item.files)}", file=stream)
    return code


def acl_lines(found: list) -> list[str]:
    """One line per resource pattern, permission and host: `allow Read, Describe on topic invoices`."""
    lines: dict[tuple, list[str]] = {}
    for b in found:
        a = b.acl
        what = "the cluster" if a.resource == "cluster" else \
            f"{a.resource.replace('_', ' ')} {a.name}" + (" (prefix)" if a.pattern == "prefixed" else "")
        head = f"{'allow' if a.allow else 'deny'} {{}} on {what}" + (f" from {a.host}" if a.host != "*" else "")
        lines.setdefault((head,), []).append(b.operation)
    return [head.format(", ".join(operations)) for (head,), operations in lines.items()]
