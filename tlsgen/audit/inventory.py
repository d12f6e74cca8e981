"""What out/ holds for each CA and entity, read from the files themselves (for `tlsgen status`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from cryptography import x509

from ..crypto import pki
from ..model import Spec
from ..model.acls import mapped_or_none
from ..model.principals import rfc2253
from ..reconcile.outdir import OutDir


@dataclass(frozen=True)
class Item:
    name: str
    kind: str  # cas | brokers | clients | workers | servers
    issuer: str | None
    subject: str | None  # RFC 2253, as Java's X500Principal.getName() prints it
    sans: list[str]
    not_after: str | None
    days_left: int | None
    kafka_principal: str | None  # as the brokers map the subject (kafka.principal_mapping_rules); None: refused
    mongodb_user: str | None
    files: list[str]

    def as_json(self) -> dict:
        return asdict(self)


def inventory(spec: Spec, out: OutDir, now: datetime) -> list[Item]:
    items = []
    owners = [(ca.name, "cas", ca.dir, f"{ca.dir}/ca.crt", ca.issuer) for ca in spec.ca_order()]
    owners += [(e.name, e.kind, e.dir, f"{e.dir}/{e.name}.crt", e.issuer) for e in spec.entities.values()]
    for name, kind, directory, crt, issuer in owners:
        path = out.path(directory)
        files = sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() and not path.is_symlink() else []
        data = out.read(crt).data
        cert = None
        if data:
            try:
                cert = x509.load_pem_x509_certificate(data)
            except ValueError:
                cert = None
        if cert is None:
            items.append(Item(name, kind, issuer, None, [], None, None, None, None, files))
            continue
        subject = rfc2253(cert.subject)
        leaf = kind != "cas"
        items.append(Item(
            name, kind, issuer, subject, list(pki.sans_of(cert)), cert.not_valid_after_utc.isoformat(),
            (cert.not_valid_after_utc - now).days, mapped_or_none(spec.kafka.rules, subject) if leaf else None,
            subject if leaf else None, files))
    return items
