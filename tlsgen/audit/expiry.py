"""Every certificate tlsgen wrote or trusts, and which of them end within a window (the pipeline gate).

CAs (tlsgen's own, a rollover's other one, imported ones), every entity's certificate, and each
`trusted:` certificate: a truststore holding an expired certificate is as much an outage waiting as
an expired leaf, so the gate names them all, each with its date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from .. import layout
from ..crypto import pki
from ..diagnostics import display_path
from ..model import Spec
from ..reconcile.outdir import OutDir


@dataclass(frozen=True)
class Held:
    name: str  # the CA, entity or trusted entry
    kind: str  # "CA", "imported CA", "broker", ..., "trusted"
    where: str  # the file it is read from, as the user would type it
    not_after: datetime

    def as_json(self, now: datetime) -> dict:
        return {"name": self.name, "kind": self.kind, "path": display_path(self.where), "not_after": self.not_after.isoformat(),
                "days_left": (self.not_after - now).days}

    def sentence(self, within: str) -> str:
        return f"{self.kind} {self.name} ends on {self.not_after:%Y-%m-%d %H:%M} UTC, within {within}"


def certificates(spec: Spec, out: OutDir) -> list[Held]:
    """The certificates out/ holds for the spec, and the `trusted:` ones from the spec's own files."""
    held = []
    for ca in spec.ca_order():
        kind = "imported CA" if ca.imported is not None else "CA"
        for name in (layout.CA_CERT, f"{layout.NEXT}.crt", f"{layout.PREVIOUS}.crt"):
            cert = _read(out, f"{ca.dir}/{name}")
            if cert is not None:
                held.append(Held(ca.name, kind, _shown(out.path(f"{ca.dir}/{name}")), cert.not_valid_after_utc))
        if ca.imported is not None and _read(out, f"{ca.dir}/{layout.CA_CERT}") is None:
            cert = pki.load_cert(ca.imported.cert_pem)
            held.append(Held(ca.name, kind, _shown(ca.imported.cert_file), cert.not_valid_after_utc))
    for e in spec.entities.values():
        cert = _read(out, f"{e.dir}/{layout.cert_file(e)}")
        if cert is not None:
            held.append(Held(e.name, e.kind[:-1], _shown(out.path(f"{e.dir}/{layout.cert_file(e)}")),
                             cert.not_valid_after_utc))
    for t in spec.trusted.values():
        for pem in t.certs_pem:
            held.append(Held(t.name, "trusted", _shown(t.file), pki.load_cert(pem).not_valid_after_utc))
    return held


def expiring(held: list[Held], now: datetime, within: timedelta) -> list[Held]:
    return sorted((h for h in held if h.not_after - now <= within), key=lambda h: (h.not_after, h.name))


def _shown(path) -> str:
    """Absolute, so that it reads the same from any directory (display_path shortens it when shown)."""
    return str(Path(path).absolute())


def _read(out: OutDir, rel: str) -> x509.Certificate | None:
    data = out.read(rel).data
    if not data:
        return None
    try:
        return pki.load_cert(data)
    except ValueError:
        return None
