"""tlsgen watch: apply now, then again on every change."""

from __future__ import annotations

import signal
import sys
from datetime import datetime, timezone

from .common import add_out, add_spec

HELP = ("apply now, then again after every change to a spec file or a file it references, and when a "
        "certificate is due for renewal; invalid edits are reported and watching goes on")
EXAMPLE = "  tlsgen watch\n  tlsgen watch specs/ --out build/tls"


def add_arguments(parser) -> None:
    add_spec(parser)
    add_out(parser)


def run(args) -> int:
    from ..watch import Watcher

    watcher = Watcher(args.spec, args.out, sys.stdout, sys.stderr, now=lambda: datetime.now(timezone.utc))
    # SIGTERM (docker stop, systemd): let a running apply finish, then leave cleanly.
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop.set())
    try:
        watcher.run()
    except KeyboardInterrupt:
        pass  # Ctrl-C: an apply cut short is left as a crash would leave it; the next apply completes it
    print("tlsgen watch: stopped", file=sys.stderr)
    return 0
