"""What each file of the layout holds, made from the materials: keys, certificates and passwords.

One piece of code for both sides of a plan: the planner asks what a file should hold (to compare
it with out/), apply asks for the bytes to write, and both get them from the same functions over a
`Materials` that the planner fills with what exists and apply completes with what it makes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from cryptography import x509

from .. import layout
from ..crypto import pki, stores
from ..layout import Artifact, Role
from ..model import Entity, Spec
from ..render import Passwords, render_compose, render_config
from ..render.inputs import bootstrap_servers
from . import kubernetes
from ..render.acls import render_acl_script
from .state import Digester

GITIGNORE_TEXT = b"*\n"


@dataclass(slots=True)
class Identity:
    """One CA or entity: its private key and certificate, each known or still to be made (None)."""

    name: str
    key_pem: bytes | None = field(default=None, repr=False)
    key_fingerprint: str | None = None
    key_type: str | None = None
    cert: x509.Certificate | None = None
    _key: object = field(default=None, repr=False)
    _cert_facts: tuple = field(default=(None, None, None), repr=False)  # (cert, fingerprint, pem), once per cert

    def key(self):
        if self._key is None and self.key_pem is not None:
            self._key = pki.load_key(self.key_pem, trusted=True)
        return self._key

    def set_key(self, key) -> None:
        self._key, self.key_pem = key, pki.key_pem(key)
        self.key_fingerprint, self.key_type = pki.spki_fingerprint(key), pki.key_type_of(key)

    def _facts(self) -> tuple:
        if self.cert is not None and self._cert_facts[0] is not self.cert:
            self._cert_facts = (self.cert, pki.cert_fingerprint(self.cert), pki.cert_pem(self.cert))
        return self._cert_facts if self.cert is not None else (None, None, None)

    @property
    def cert_fingerprint(self) -> str | None:
        return self._facts()[1]

    @property
    def cert_pem(self) -> bytes | None:
        return self._facts()[2]


class Materials:
    """Every identity and password of a spec, as far as they are known."""

    def __init__(self, spec: Spec, identities: dict[str, Identity], passwords: dict[str, str], digest: Digester,
                 strimzi: dict | None = None):
        self.spec, self.identities, self.passwords, self.digest = spec, identities, passwords, digest
        self.strimzi = strimzi or {}  # Strimzi CA role → its Generation after this apply
        self._imported_keys: dict[str, object] = {}

    def __getitem__(self, name: str) -> Identity:
        return self.identities[name]

    def forget(self, name: str) -> None:
        """Let go of an entity's key and certificate once nothing more is made from them (a large apply
        would hold 5,000 of each); asking for it afterwards is a KeyError, never a file made of None."""
        del self.identities[name]

    def signing_key(self, ca_name: str):
        """The private key that signs for a CA: tlsgen's own, or an imported one (loaded and checked once)."""
        ca = self.spec.cas[ca_name]
        if ca.imported is None:
            return self[ca_name].key()
        if ca_name not in self._imported_keys:
            password = ca.imported.key_password
            self._imported_keys[ca_name] = pki.load_key(ca.imported.key_pem, str(password) if password else None)
        return self._imported_keys[ca_name]

    def chain(self, e: Entity) -> list[Identity]:
        """Leaf, then intermediates (the root is the peer's to trust, not to be sent)."""
        return [self[e.name]] + [self[ca.name] for ca in self.spec.chain_of(e.issuer)[:-1]]

    def trust(self, e: Entity) -> list[tuple[str, bytes | None, str | None]]:
        """(alias, PEM, fingerprint) of every certificate the entity trusts, in ca.pem's order;
        None for a CA certificate still to be issued."""
        entries = []
        for name in e.trust:
            if name in self.spec.trusted:
                pems = self.spec.trusted[name].certs_pem
                aliases = [name] if len(pems) == 1 else [f"{name}-{i + 1}" for i in range(len(pems))]
                entries += [(alias, pem, _pem_fingerprint(pem)) for alias, pem in zip(aliases, pems)]
            else:
                entries.append((name, self[name].cert_pem, self[name].cert_fingerprint))
                for which in (layout.NEXT, layout.PREVIOUS):  # a CA rollover: both trusted until it retires
                    other = self.identities.get(layout.other_identity(name, which))
                    if other is not None:
                        entries.append((f"{name}-{which}", other.cert_pem, other.cert_fingerprint))
        return entries

    def store_passwords(self, e: Entity) -> Passwords:
        password = self.passwords[e.name]
        return Passwords(keystore=password if e.keystore != "pem" else None,
                         truststore=password if e.truststore != "pem" else None, key=password)


def made_from(a: Artifact, m: Materials) -> dict:
    """The inputs of a file as state records them: fingerprints and settings, never a secret
    (passwords by their HMAC). None stands for a fingerprint of something still to be made."""
    if a.role in (Role.GITIGNORE, Role.COMPOSE, Role.PASSWORD, Role.ACL_SCRIPT):
        return {}
    if a.role is Role.KUSTOMIZATION:
        return {"strimzi": {role: [g.cert_generation, g.key_generation, *g.certs] for role, g in m.strimzi.items()}} \
            if a.config == "cas" else {}
    if a.name in m.spec.cas and a.role in (Role.CHAIN, Role.TRUSTSTORE):  # Strimzi's files for a CA
        chain = [m[ca.name].cert_fingerprint for ca in m.spec.chain_of(a.name)]
        if a.role is Role.CHAIN:
            return {"chain": chain}
        return {"trust": [i.cert_fingerprint for _, i in kubernetes.strimzi_trusted(m, a.name)],
                "password": m.digest(m.passwords[a.name].encode(), True), "format": "pkcs12", "profile": "modern"}
    me = m[a.name]
    if a.role is Role.KEY:
        return {"key": me.key_fingerprint, "type": me.key_type}
    if a.role is Role.CERTIFICATE:
        return {"cert": me.cert_fingerprint, **_cert_settings(m.spec, a.name)}
    e = m.spec.entities[a.name]
    password = m.digest(m.passwords[e.name].encode(), True)
    if a.role is Role.CONFIG:  # bootstrap.servers, so that a broker's new address is named as the cause
        return {"password": password, **({"brokers": bootstrap_servers(m.spec, e)} if e.brokers else {})}
    chain = [i.cert_fingerprint for i in m.chain(e)]
    trust = [fp for _, _, fp in m.trust(e)]
    return {
        Role.CHAIN: lambda: {"chain": chain},
        Role.TRUST_BUNDLE: lambda: {"trust": trust},
        Role.CERT_AND_KEY: lambda: {"chain": chain, "key": me.key_fingerprint},
        Role.KEYSTORE: lambda: {"chain": chain, "key": me.key_fingerprint, "password": password,
                                "format": e.keystore, **({"profile": e.pkcs12} if e.keystore != "pem" else {})},
        Role.TRUSTSTORE: lambda: {"trust": trust, "password": password, "format": e.truststore, "profile": e.pkcs12},
    }[a.role]()


def _cert_settings(spec: Spec, name: str) -> dict:
    name = layout.identity_base(name)
    if name in spec.cas:
        ca = spec.cas[name]
        return {"imported": True} if ca.imported is not None else {"issuer": ca.issuer, "validity": str(ca.validity)}
    e = spec.entities[name]
    return {"issuer": e.issuer, "validity": str(e.validity)}


def content(a: Artifact, m: Materials) -> bytes | None:
    """The exact bytes a file should hold, or None: still to be made, or a store (fresh salts each time)."""
    if a.role in (Role.KEYSTORE, Role.TRUSTSTORE):
        return None
    if a.role is Role.GITIGNORE:
        return GITIGNORE_TEXT
    if a.role is Role.COMPOSE:
        return render_compose(m.spec).encode()
    if a.role is Role.ACL_SCRIPT:
        return render_acl_script(m.spec).encode()
    if a.role is Role.KEY:
        return m[a.name].key_pem
    if a.role is Role.CERTIFICATE:
        return m[a.name].cert_pem
    if a.role is Role.KUSTOMIZATION:
        return kubernetes.kustomization(a, m)
    if a.role is Role.PASSWORD:
        return m.passwords[a.name].encode()
    if a.name in m.spec.cas and a.role is Role.CHAIN:  # Strimzi's ca.crt: the CA, then its issuers to the root
        return _joined([m[ca.name].cert_pem for ca in m.spec.chain_of(a.name)])
    e = m.spec.entities[a.name]
    if a.role is Role.CONFIG:
        return render_config(m.spec, e, a.config, m.store_passwords(e)).encode()
    if a.role is Role.CHAIN:
        return _joined([i.cert_pem for i in m.chain(e)])
    if a.role is Role.TRUST_BUNDLE:
        return _joined([pem for _, pem, _ in m.trust(e)])
    if a.role is Role.CERT_AND_KEY:  # MongoDB's net.tls.certificateKeyFile: chain, then key
        chain, key = _joined([i.cert_pem for i in m.chain(e)]), m[e.name].key_pem
        return chain + key if chain is not None and key is not None else None
    raise ValueError(f"no content for {a.role}")


def build(a: Artifact, m: Materials) -> bytes:
    """The bytes apply writes, once every material is made."""
    if a.role in (Role.KEYSTORE, Role.TRUSTSTORE):
        return store_job(a, m).build()
    data = content(a, m)
    if data is None:
        raise ValueError(f"{a.path}: a material it is made from was not made")
    return data


def store_job(a: Artifact, m: Materials) -> stores.StoreJob:
    """What a keystore or truststore is built from (apply builds them together, on every core)."""
    password = m.passwords[a.name]
    if a.name in m.spec.cas:  # Strimzi's ca.p12, with a password tlsgen generated
        return stores.StoreJob("pkcs12", password, "modern", pki.iterations_for(True), pki.mac_iterations_for(True),
                               certs=_strimzi_certs(m, a.name))
    e = m.spec.entities[a.name]
    # A generated password carries ~190 bits: more iterations add nothing to it (crypto/pki.py).
    generated = e.password is None
    iterations, mac_iterations = pki.iterations_for(generated), pki.mac_iterations_for(generated)
    if a.role is Role.KEYSTORE:
        return stores.StoreJob(e.keystore, password, e.pkcs12, iterations, mac_iterations, alias=e.name,
                               key=m[e.name].key(), chain=[i.cert for i in m.chain(e)])
    return stores.StoreJob(e.truststore, password, e.pkcs12, iterations, mac_iterations, certs=_trusted_certs(m, e))


def holds(a: Artifact, m: Materials) -> Callable[[bytes], bool] | None:
    """For a store: a test of whether some bytes hold exactly what it should (by content, never bytes)."""
    if a.role not in (Role.KEYSTORE, Role.TRUSTSTORE):
        return None
    password = m.passwords[a.name]
    if a.name in m.spec.cas:
        return _holding(lambda data: stores.read_truststore("pkcs12", data, password) ==
                        stores.expected_truststore(_strimzi_certs(m, a.name)))
    e = m.spec.entities[a.name]

    def check(data: bytes) -> bool:
        try:
            if a.role is Role.TRUSTSTORE:
                return stores.read_truststore(e.truststore, data, password) == \
                    stores.expected_truststore(_trusted_certs(m, e))
            chain, key = [i.cert for i in m.chain(e)], m[e.name].key()
            alias = stores.PEM_KEY_ALIAS if e.keystore == "pem" else e.name
            return stores.read_keystore(e.keystore, data, password) == stores.expected_keystore(alias, key, chain)
        except (stores.StoreError, ValueError):
            return False
    return check


def _holding(test: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
    def check(data: bytes) -> bool:
        try:
            return test(data)
        except (stores.StoreError, ValueError):
            return False
    return check


def _strimzi_certs(m: Materials, ca: str) -> list[tuple[str, x509.Certificate]]:
    return [(alias, identity.cert) for alias, identity in kubernetes.strimzi_trusted(m, ca)]


def _trusted_certs(m: Materials, e: Entity) -> list[tuple[str, x509.Certificate]]:
    return [(alias, pki.load_cert(pem)) for alias, pem, _ in m.trust(e)]


@functools.lru_cache(maxsize=None)
def _pem_fingerprint(pem: bytes) -> str:
    return pki.cert_fingerprint(pki.load_cert(pem))


def _joined(pems: list[bytes | None]) -> bytes | None:
    return None if any(p is None for p in pems) else b"".join(pems)


def chown_of(spec: Spec, part: str) -> tuple[int, int | None] | None:
    """The owner the spec asks for the files of a part of out/ (an entity's `owner:`), or None."""
    kind, _, name = part.partition("/")
    entity = spec.entities.get(name) if kind in layout.KINDS else None
    return entity.owner if entity is not None else None
