"""tlsgen status: an inventory of what out/ holds."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from .common import add_json, add_out, add_spec, human

HELP = ("inventory: each certificate's subject, SANs, issuer, expiry, days left, Kafka principal, "
        "MongoDB X.509 user and files")
EXAMPLE = "  tlsgen status\n  tlsgen status --json | jq -r '.[] | select(.days_left < 30) | .name'"


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)
    add_json(parser, "the inventory")


def run(args) -> int:
    from ..audit.inventory import inventory
    from ..model.read import read_spec
    from ..reconcile.outdir import OutDir

    spec = read_spec(args.spec, args.out)
    items = inventory(spec, OutDir(spec.output), datetime.now(timezone.utc))
    if args.json:
        print(json.dumps([i.as_json() for i in items], indent=2))
        return 0
    stream = human(args)
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
        if item.kafka_principal:
            print(f"  Kafka       {item.kafka_principal}", file=stream)
            print(f"  MongoDB     {item.mongodb_user}  (X.509 user in $external)", file=stream)
        print(f"  files       {' '.join(item.files)}", file=stream)
    return 0
