"""What a consumer would trip over in out/: the files read the way OpenSSL, Java and librdkafka
read them, one line per problem.

Independent of tlsgen's records where it can be: it reads what is on disk the way the consumers
will (certificates, keys, stores opened with the password files next to them) and checks it
against the spec. Chains are checked by signatures and validity up to a certificate of the
truststore. (What tlsgen itself would change is reconcile's drift, which verify reports beside this.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import layout
from ..crypto import pki, stores
from ..model import Entity, Spec
from ..reconcile.outdir import OutDir


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    warning: bool = False

    def shown_path(self, out: OutDir) -> str:
        """The file as the user would type it (a path inside out/, or a spec's own file)."""
        return str(out.root / self.path) if self.path else str(out.root)

    def render(self, out: OutDir) -> str:
        return f"{'warning' if self.warning else 'problem'}: {self.shown_path(out)}: {self.message}"

    def as_json(self, out: OutDir) -> dict:
        return {"path": self.shown_path(out), "message": self.message}


class ConsumerChecks:
    def __init__(self, spec: Spec, out: OutDir, now: datetime, unchanged: frozenset[str]):
        self.spec, self.out, self.now = spec, out, now
        # Files whose bytes are what tlsgen recorded writing: keys in them were checked when made, so
        # they load without OpenSSL's RSA consistency check (~70 ms a key, most of a verify's time).
        self.unchanged = unchanged
        self.problems: list[Problem] = []
        self.checked_files = 0

    def problem(self, path: str, message: str, warning: bool = False) -> None:
        self.problems.append(Problem(path, message, warning))

    def data(self, rel: str) -> bytes | None:
        current = self.out.read(rel)
        if not current.exists:
            self.problem(rel, "missing (run tlsgen apply)")
            return None
        if current.data is None:
            self.problem(rel, "is not a regular file")
            return None
        self.checked_files += 1
        return current.data

    def cert(self, rel: str) -> x509.Certificate | None:
        data = self.data(rel)
        if data is None:
            return None
        try:
            return pki.load_cert(data)
        except ValueError:
            self.problem(rel, "is not a PEM certificate")
            return None

    def certs(self, rel: str) -> list[x509.Certificate]:
        data = self.data(rel)
        if data is None:
            return []
        try:
            return pki.load_certs(data)
        except ValueError:
            self.problem(rel, "holds no PEM certificate")
            return []

    def key(self, rel: str, password: str | None = None):
        data = self.data(rel)
        if data is None:
            return None
        try:
            return pki.load_key(data, password, trusted=rel in self.unchanged)
        except (ValueError, TypeError):
            self.problem(rel, "is not a readable PEM private key")
            return None

    def password(self, rel: str) -> str | None:
        data = self.data(rel)
        return data.decode() if data is not None else None

    # --------------------------------------------------------------------------------------------

    def run(self) -> list[Problem]:
        for ca in self.spec.ca_order():
            cert = self.cert(f"{ca.dir}/ca.crt")
            if cert is None:
                continue
            if ca.imported is None:
                key = self.key(f"{ca.dir}/ca.key")
                if key is not None and pki.spki_fingerprint(key) != pki.spki_fingerprint(cert):
                    self.problem(f"{ca.dir}/ca.key", "does not match ca.crt")
            elif pki.cert_pem(cert) != pki.cert_pem(pki.load_cert(ca.imported.cert_pem)):
                self.problem(f"{ca.dir}/ca.crt", f"differs from the imported {ca.imported.cert_file}")
            self.check_validity(f"{ca.dir}/ca.crt", cert, ca.renew_before)
        chains: dict[str, list[x509.Certificate]] = {}
        trusts: dict[str, list[x509.Certificate]] = {}
        for e in self.spec.entities.values():
            chain, trust = self.check_entity(e)
            chains[e.name], trusts[e.name] = chain, trust
        for e in self.spec.entities.values():
            for peer_name in (*e.brokers, *e.connects_to):
                peer = self.spec.entities[peer_name]
                if chains.get(peer_name) and trusts.get(e.name) and not _chains_to(chains[peer_name], trusts[e.name]):
                    self.problem(f"{e.dir}/ca.pem", f"does not trust {peer.kind[:-1]} {peer_name}'s certificate chain")
                if chains.get(e.name) and trusts.get(peer_name) and not _chains_to(chains[e.name], trusts[peer_name]):
                    self.problem(f"{peer.dir}/ca.pem", f"does not trust {e.kind[:-1]} {e.name}'s certificate chain")
        return self.problems

    def check_entity(self, e: Entity) -> tuple[list, list]:
        d = e.dir
        cert = self.cert(f"{d}/{e.name}.crt")
        key = self.key(f"{d}/{e.name}.key")
        chain = self.certs(f"{d}/chain.pem")
        trust = self.certs(f"{d}/ca.pem")
        if cert is None:
            return [], trust
        if key is not None and pki.spki_fingerprint(key) != pki.spki_fingerprint(cert):
            self.problem(f"{d}/{e.name}.key", f"does not match {e.name}.crt")
        want = {f"DNS:{h}" for h in e.hostnames} | {f"IP:{i}" for i in e.ip_addresses}
        if set(pki.sans_of(cert)) != want:
            self.problem(f"{d}/{e.name}.crt", f"SANs are {', '.join(pki.sans_of(cert)) or 'none'}; the spec asks for "
                         f"{', '.join(sorted(want)) or 'none'}")
        self.check_validity(f"{d}/{e.name}.crt", cert, e.renew_before)
        for held, ca in zip(chain[1:], self.spec.chain_of(e.issuer)):
            current = self.out.read(f"{ca.dir}/ca.crt").data
            if current and pki.cert_fingerprint(held) != pki.cert_fingerprint(pki.load_cert(current)):
                self.problem(f"{d}/chain.pem", f"holds an outdated copy of CA {ca.name}'s certificate")
        if chain and pki.cert_fingerprint(chain[0]) != pki.cert_fingerprint(cert):
            self.problem(f"{d}/chain.pem", f"does not start with {e.name}.crt")
        root = self.out.read(f"cas/{self.spec.root_of(e.issuer)}/ca.crt").data
        if chain and root and not _chains_to(chain, [pki.load_cert(root)]):
            self.problem(f"{d}/chain.pem", f"does not verify up to {self.spec.root_of(e.issuer)}")
        if trust == [] and self.out.read(f"{d}/ca.pem").data is not None:
            self.problem(f"{d}/ca.pem", "holds no certificate")
        if e.kind == "servers":
            both = self.data(f"{d}/{e.name}.pem")
            if both is not None and key is not None:
                try:
                    ok = pki.spki_fingerprint(pki.load_key(both, trusted=f"{d}/{e.name}.pem" in self.unchanged)) == \
                        pki.spki_fingerprint(cert) and \
                        pki.cert_fingerprint(pki.load_certs(both)[0]) == pki.cert_fingerprint(cert)
                except (ValueError, TypeError):
                    ok = False
                if not ok:
                    self.problem(f"{d}/{e.name}.pem", f"does not hold {e.name}.crt and its key")
        if key is not None and chain:
            self.check_keystore(e, key, chain)
        if trust:
            self.check_truststore(e, trust)
        return chain, trust

    def check_keystore(self, e: Entity, key, chain: list) -> None:
        d = e.dir
        if e.keystore == "pem":
            password, data = self.password(f"{d}/key.password"), self.data(f"{d}/keystore.pem")
            if password is not None and data is not None and not stores.pem_keystore_holds(data, password, key, chain):
                self.problem(f"{d}/keystore.pem", "does not open with key.password, or does not hold the key and chain")
            return
        rel = f"{d}/{layout.keystore_file(e)}"
        password, data = self.password(f"{d}/keystore.password"), self.data(rel)
        key_password = self.password(f"{d}/key.password")
        if password is None or data is None:
            return
        if key_password is not None and key_password != password:
            self.problem(f"{d}/key.password", "differs from keystore.password (Java needs them equal for PKCS12)")
        try:
            content = stores.read_keystore(e.keystore, data, password,
                                           ours=rel in self.unchanged and not isinstance(key, rsa.RSAPrivateKey))
        except (stores.StoreError, ValueError) as exc:
            self.problem(rel, f"does not open with keystore.password ({exc})")
            return
        if content != stores.expected_keystore(e.name, key, chain):
            self.problem(rel, f"does not hold {e.name}'s key and certificate chain under alias {e.name}")

    def check_truststore(self, e: Entity, trust: list) -> None:
        if e.truststore == "pem":
            return
        d = e.dir
        rel = f"{d}/{layout.truststore_file(e)}"
        password, data = self.password(f"{d}/truststore.password"), self.data(rel)
        if password is None or data is None:
            return
        try:
            content = stores.read_truststore(e.truststore, data, password, ours=rel in self.unchanged)
        except (stores.StoreError, ValueError) as exc:
            self.problem(rel, f"does not open with truststore.password ({exc})")
            return
        held = {fp for entry in content.entries for fp in entry[3] if entry[1] == "trusted"}
        if not held:
            self.problem(rel, "holds no trusted certificate (Java: trustAnchors parameter must be non-empty)")
        elif held != {pki.cert_fingerprint(c) for c in trust}:
            self.problem(rel, "does not hold the same certificates as ca.pem")

    def check_validity(self, rel: str, cert: x509.Certificate, renew_before) -> None:
        if cert.not_valid_before_utc > self.now:
            self.problem(rel, f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: consumers refuse it "
                         "until then (is a clock wrong?)")
        left = cert.not_valid_after_utc - self.now
        if left.total_seconds() <= 0:
            self.problem(rel, f"expired on {cert.not_valid_after_utc:%Y-%m-%d}")
        elif left <= renew_before.delta:
            self.problem(rel, f"expires in {left.days} days (renew_before {renew_before}): tlsgen apply renews it",
                         warning=True)


def _chains_to(chain: list[x509.Certificate], anchors: list[x509.Certificate]) -> bool:
    """Does `chain` (leaf first) lead by valid signatures to one of `anchors`? (Expiry is checked apart.)"""
    for i, cert in enumerate(chain):
        for anchor in anchors:
            if pki.cert_fingerprint(anchor) == pki.cert_fingerprint(cert):
                return True
            try:
                cert.verify_directly_issued_by(anchor)
                return True
            except (InvalidSignature, ValueError, TypeError):
                continue
        if i + 1 < len(chain):
            try:
                cert.verify_directly_issued_by(chain[i + 1])
            except (InvalidSignature, ValueError, TypeError):
                return False
    return False


def consumer_problems(spec: Spec, out: OutDir, now: datetime, unchanged: frozenset[str]) -> tuple[list[Problem], int]:
    checks = ConsumerChecks(spec, out, now, unchanged)
    return checks.run(), checks.checked_files
