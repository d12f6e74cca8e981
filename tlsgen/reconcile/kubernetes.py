"""The Kubernetes side of out/: what each kustomization holds, and Strimzi's generation counters.

`m` is content.Materials throughout (content.py builds these files, so this module does not import it).
The kustomizations name out/'s own files (render/kubernetes.py writes them). Strimzi learns that a
CA Secret changed only from its `strimzi.io/ca-cert-generation` and `ca-key-generation`
annotations, so each is raised exactly when what its Secret holds changes: the state remembers the
fingerprints Strimzi was last given, and a plan compares them with what it is about to write. A
CA rollover's steps each change the certificate Secret (trust: the new certificate is added under
its dated key; issue: it becomes ca.crt and the old one is kept dated; retire: the old one goes),
and the issue step changes the key.
"""

from __future__ import annotations

from .. import layout
from ..layout import Artifact
from ..model import Spec
from ..render import kubernetes as k8s
from .state import Generation

# Data keys of an entity's Secret besides out/'s file names, as Kubernetes (kubernetes.io/tls) and
# cert-manager users expect them: the chain a server sends, its key, and the CAs it trusts.
TLS_KEYS = {"tls.crt": layout.CHAIN, "tls.key": None, "ca.crt": layout.CA_BUNDLE}


def plan_generations(spec: Spec, m, stored: dict[str, Generation]) -> dict[str, Generation]:
    """The generation each Strimzi CA role's Secrets carry after this apply (None fingerprints: still to
    be made, which is a change)."""
    if spec.kubernetes is None or spec.kubernetes.strimzi is None:
        return {}
    planned = {}
    for role, ca in spec.kubernetes.strimzi.roles.items():
        certs, key = _identity(spec, m, ca)
        before = stored.get(role)
        if before is None or before.ca != ca:
            planned[role] = Generation(ca, 0, 0, certs, key)
        else:
            planned[role] = Generation(ca, before.cert_generation + (certs != before.certs or None in certs),
                                       before.key_generation + (key != before.key or key is None), certs, key)
    return planned


def made_generations(spec: Spec, m, planned: dict[str, Generation]) -> dict[str, Generation]:
    """The planned generations with the fingerprints of what apply has now made."""
    made = {}
    for role, g in planned.items():
        certs, key = _identity(spec, m, g.ca)
        made[role] = Generation(g.ca, g.cert_generation, g.key_generation, certs, key)
    return made


def _identity(spec: Spec, m, ca: str) -> tuple[tuple[str | None, ...], str | None]:
    """What Strimzi is given for a CA: its certificates (ca.crt's chain, then a rollover's other one), its key."""
    certs = [m[c.name].cert_fingerprint for c in spec.chain_of(ca)]
    certs += [other.cert_fingerprint for _, other in _retained(m, ca)]
    return tuple(certs), m[ca].key_fingerprint


def _retained(m, ca: str) -> list[tuple[str, object]]:
    """(file name, identity) of a rollover's other CA certificate, kept in the cert Secret until it retires."""
    found = []
    for which in (layout.NEXT, layout.PREVIOUS):
        other = m.identities.get(layout.other_identity(ca, which))
        if other is not None:
            found.append((f"{which}.crt", other))
    return found


def kustomization(a: Artifact, m) -> bytes | None:
    """A kustomization's text, or None while a certificate it names by its end date is still to be made."""
    spec = m.spec
    namespace = spec.kubernetes.namespace
    if a.config == layout.KUBERNETES_DIR:
        parts = [f"../{kind}" for kind in layout.kinds_of(spec)] + (["../cas"] if spec.kubernetes.strimzi else [])
        return k8s.render_kustomization(namespace, [], resources=parts).encode()
    if a.config == "cas":
        secrets = _strimzi_secrets(spec, m)
        return None if secrets is None else k8s.render_kustomization(namespace, secrets).encode()
    entities = [e for e in spec.entities.values() if e.kind == a.config]
    secrets = []
    for e in entities:
        files = {f.file_name: f"{e.name}/{f.file_name}" for f in layout.entity_artifacts(e)
                 if not (f.role is layout.Role.CONFIG and f.config == layout.ENV)}  # env files are compose's
        tls = {key: f"{e.name}/{name or layout.key_file(e)}" for key, name in TLS_KEYS.items()}
        secrets.append(k8s.SecretFiles(k8s.entity_secret_name(e.name), {**files, **tls},
                                       k8s.entity_labels(e.kind, e.name)))
    return k8s.render_kustomization(namespace, secrets).encode()


def _strimzi_secrets(spec: Spec, m) -> list[k8s.SecretFiles] | None:
    strimzi = spec.kubernetes.strimzi
    cas = {}
    for role, name in strimzi.roles.items():
        ca = spec.cas[name]
        retained = {}
        for file, other in _retained(m, name):
            if other.cert is None:
                return None
            retained[k8s.retained_cert_key(other.cert.not_valid_after_utc)] = f"{name}/{file}"
        generation = m.strimzi[role]
        cas[role] = k8s.StrimziCa(
            cert=f"{name}/{layout.CHAIN if ca.issuer else layout.CA_CERT}", key=f"{name}/{layout.CA_KEY}",
            cert_generation=generation.cert_generation, key_generation=generation.key_generation,
            truststore=f"{name}/{layout.STRIMZI_TRUSTSTORE}", password=f"{name}/{layout.STRIMZI_PASSWORD}",
            retained=retained)
    return k8s.strimzi_secrets(strimzi.cluster, cas["cluster"], cas["clients"])


def strimzi_trusted(m, ca: str) -> list[tuple[str, object]]:
    """ca.p12's entries: the CA under Strimzi's alias "ca.crt", and a rollover's other one under its dated key."""
    entries = [("ca.crt", m[ca])]
    for _, other in _retained(m, ca):
        entries.append((k8s.retained_cert_key(other.cert.not_valid_after_utc) if other.cert else "", other))
    return entries
