"""Kubernetes: kustomizations whose `secretGenerator`s turn the files tlsgen writes in out/ into
Secrets, and Strimzi's CA Secrets for `generateCertificateAuthority: false`. Pure: no I/O, no
clock; the same input gives the same bytes.

Where a kustomization can read from: kustomize refuses any file that is not in or below the
directory of the kustomization that names it (load restrictor `LoadRestrictionsRootOnly`, the
default, which `kubectl apply -k` cannot switch off), symlinks included: their target is checked.
A kustomization may, however, name another directory that holds a kustomization as a resource
(`../cas`), except one of its own ancestors ("cycle detected"). So files are named relative to the
kustomization that generates their Secret, never with `..`; an aggregating kustomization lists the
others under `resources`. (kubectl 1.32 / kustomize v5.5, tests/test_kubernetes.py pins both.)

The Kubernetes API's rules that the names here must meet (kubernetes/kubernetes,
staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go and
pkg/api/validate/content/kube.go; ValidateSecret in pkg/apis/core/validation/validation.go):
- a Secret's name is a DNS-1123 subdomain: at most 253 characters of [a-z0-9.-], each
  dot-separated part starting and ending alphanumeric;
- a namespace's name is a DNS-1123 label: the same without dots, at most 63 characters;
- a data key is a "config map key": at most 253 of [-._a-zA-Z0-9], not `.`, `..` nor `..`-prefixed;
- a label or annotation key is a qualified name: an optional DNS-subdomain prefix and `/`, then at
  most 63 of [-._a-zA-Z0-9] starting and ending alphanumeric (annotation keys case-insensitively);
- a label value is empty or at most 63 such characters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Mapping, Sequence

from .inputs import WRITTEN_BY
from .syntax import yaml_key

API_VERSION = "kustomize.config.k8s.io/v1beta1"

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_DNS1123_LABEL_ONLY = re.compile(rf"^{_DNS1123_LABEL}$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
SUBDOMAIN_MAX = 253
LABEL_MAX = 63

# Kubernetes' recommended label for the tool that manages a resource
# (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/): lets a user list or
# prune what tlsgen made with `-l app.kubernetes.io/managed-by=tlsgen`.
MANAGED_BY = {"app.kubernetes.io/managed-by": "tlsgen"}
# An entity's kind (the out/ directory) as the recommended `component` label: its role.
_COMPONENTS = {"brokers": "broker", "clients": "client", "workers": "worker", "servers": "server"}


# --- names ------------------------------------------------------------------------------------

def secret_name_problem(name: str) -> str | None:
    if len(name) > SUBDOMAIN_MAX:
        return f"Secret name {name!r} is longer than {SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.match(name):
        return (f"Secret name {name!r} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit)")
    return None


def namespace_problem(namespace: str) -> str | None:
    if len(namespace) > LABEL_MAX or not _DNS1123_LABEL_ONLY.match(namespace):
        return (f"namespace {namespace!r} is not a DNS-1123 label (at most {LABEL_MAX} lowercase letters, "
                "digits and '-', starting and ending with a letter or digit)")
    return None


def data_key_problem(key: str) -> str | None:
    if len(key) > SUBDOMAIN_MAX or not _DATA_KEY.match(key) or key == "." or key.startswith(".."):
        return (f"Secret data key {key!r} is not a valid key (at most {SUBDOMAIN_MAX} of letters, digits, "
                "'-', '_' and '.', neither '.' nor starting with '..')")
    return None


def _qualified_name_problem(key: str, what: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in prefix or (key.count("/") == 1 and (not prefix or secret_name_problem(prefix))):
        return f"{what} {key!r} has no valid DNS-subdomain prefix before '/'"
    if len(name) > LABEL_MAX or not _QUALIFIED_NAME.match(name):
        return (f"{what} {key!r}: the name after any prefix must be at most {LABEL_MAX} letters, digits, "
                "'-', '_' and '.', starting and ending with a letter or digit")
    return None


def label_key_problem(key: str) -> str | None:
    return _qualified_name_problem(key, "label key")


def annotation_key_problem(key: str) -> str | None:
    # ValidateAnnotations checks the lowercased key (objectmeta.go): "case doesn't matter".
    return _qualified_name_problem(key.lower(), "annotation key")


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > LABEL_MAX or not _QUALIFIED_NAME.match(value)):
        return (f"label value {value!r} must be at most {LABEL_MAX} letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit")
    return None


def _checked(problem: str | None, value: str) -> str:
    if problem is not None:
        raise ValueError(problem)
    return value


def entity_secret_name(entity: str) -> str:
    """`<entity>-tls`. The suffix keeps it apart from the Secret Strimzi's User Operator names after
    a KafkaUser (`<user>`, Strimzi documentation/modules/security/ref-certificates-and-secrets.adoc),
    which a client of the same name would otherwise overwrite. An entity name (at most 63) + 4 is far
    inside the 253 of a Secret name."""
    name = f"{entity}-tls"
    return _checked(secret_name_problem(name), name)


def entity_labels(kind: str, entity: str) -> dict[str, str]:
    """Kubernetes' recommended labels for an entity's Secret: its name as `instance` (a label value,
    so at most 63: entity names are) and its kind as `component`."""
    labels = {**MANAGED_BY, "app.kubernetes.io/instance": entity, "app.kubernetes.io/component": _COMPONENTS[kind]}
    for value in labels.values():
        _checked(label_value_problem(value), value)
    return labels


# --- secrets and kustomizations ---------------------------------------------------------------

@dataclass(frozen=True)
class SecretFiles:
    """One Secret made by kustomize's secretGenerator: data key → file path relative to the directory
    of the kustomization that generates it (forward slashes, no `..`: see the module docstring)."""

    name: str
    files: Mapping[str, str]
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("files", "labels", "annotations"):  # frozen all the way down, once checked
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        problems = [secret_name_problem(self.name)]
        if not self.files:
            problems.append("it has no files")
        problems += [data_key_problem(key) for key in self.files]
        problems += [_path_problem(path) for path in self.files.values()]
        problems += [label_key_problem(k) for k in self.labels] + [label_value_problem(v) for v in self.labels.values()]
        problems += [annotation_key_problem(k) for k in self.annotations]
        found = [p for p in problems if p]
        if found:
            raise ValueError(f"Secret {self.name!r}: " + "; ".join(found))


def _path_problem(path: str) -> str | None:
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        return (f"file {path!r} must be a plain relative path below the kustomization's directory: kustomize "
                "refuses files outside it")
    # kustomize splits a `key=path` source at '=' and refuses a second one ("key name or file path
    # contains '='", api/kv, ParseFileSource).
    if "=" in path:
        return f"file {path!r} holds '=', which kustomize's key=path form cannot carry"
    return None


def _string(value: str) -> str:
    """A YAML string that no YAML 1.1 reader takes for a number or boolean: JSON strings are YAML."""
    return json.dumps(value)


def _mapping(title: str, items: Mapping[str, str], indent: str) -> list[str]:
    if not items:
        return []
    return [f"{indent}{title}:"] + [f"{indent}  {yaml_key(k)}: {_string(items[k])}" for k in sorted(items)]


def _secret_generator(secret: SecretFiles) -> list[str]:
    lines = [f"  - name: {_string(secret.name)}", "    type: Opaque", "    files:"]
    lines += [f"      - {_string(f'{key}={secret.files[key]}')}" for key in sorted(secret.files)]
    options = _mapping("labels", secret.labels, "      ") + _mapping("annotations", secret.annotations, "      ")
    return lines + (["    options:"] + options if options else [])


def render_kustomization(namespace: str, secrets: Sequence[SecretFiles], *, resources: Sequence[str] = (),
                         apply_dir: str = "out/kubernetes") -> str:
    """A kustomization.yaml: Secrets from files below its directory, plus other kustomization
    directories as `resources` (`../cas`). `apply_dir` is the kustomization users apply (this one or
    the one that gathers it), for the comment. Every kustomization carries the namespace, so that
    one applied on its own by mistake does not land in whatever namespace the kubectl context has."""
    _checked(namespace_problem(namespace), namespace)
    names = sorted(s.name for s in secrets)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two Secrets named {', '.join(twice)}: one kustomization cannot generate both")
    for resource in resources:
        if resource.startswith("/") or "\\" in resource:
            raise ValueError(f"resource {resource!r} must be a relative path to a kustomization directory")
    lines = [
        f"# {WRITTEN_BY}",
        "# Kubernetes Secrets made from the files tlsgen writes. See them with",
        f"#   kubectl kustomize {apply_dir}",
        "# and apply them with",
        f"#   kubectl apply -k {apply_dir}",
        f"apiVersion: {API_VERSION}",
        "kind: Kustomization",
        f"namespace: {_string(namespace)}",
    ]
    if resources:
        lines.append("resources:")
        lines += [f"  - {_string(r)}" for r in sorted(resources)]
    if secrets:
        lines += [
            "generatorOptions:",
            "  # Fixed names, no content-hash suffix. Strimzi finds its CA Secrets by exact name",
            "  # (CaReconciler: <cluster>-cluster-ca-cert, ...), and pods, KafkaConnect and other resources",
            "  # outside this kustomization name the entity Secrets: kustomize rewrites references to a",
            "  # hashed name only inside the same build. A hashed name would also leave every old Secret,",
            "  # private keys and all, in the cluster until pruned. Pods do not restart on their own when a",
            "  # Secret changes: `tlsgen plan` names the services to restart.",
            "  disableNameSuffixHash: true",
            "secretGenerator:",
        ]
        for secret in sorted(secrets, key=lambda s: s.name):
            lines += _secret_generator(secret)
    return "\n".join(lines) + "\n"


# --- Strimzi's CA Secrets ---------------------------------------------------------------------
# Strimzi's "Installing your own CA certificates and private keys" (strimzi/strimzi-kafka-operator,
# documentation/modules/security/proc-installing-your-own-ca-certificates.adoc): with
# `Kafka.spec.clusterCa/clientsCa.generateCertificateAuthority: false`, the user supplies, per CA,
#   <cluster>-<role>-ca-cert  ca.crt (PEM: the CA, then its issuers up to the root) and, optionally,
#                             ca.p12 + ca.password (a PKCS12 truststore for clients that need one);
#   <cluster>-<role>-ca       ca.key (PEM, unencrypted: the operator signs with `openssl ca -keyfile`);
# both labelled strimzi.io/kind=Kafka and strimzi.io/cluster=<cluster> (the operator lists Secrets by
# exactly these labels, CaReconciler.reconcileCas, and fails "should not be generated, but the
# secrets were not found" without them), and annotated strimzi.io/ca-cert-generation and
# strimzi.io/ca-key-generation, starting at 0 and raised on every change of the certificate or key.

STRIMZI_ROLES = ("cluster", "clients")
STRIMZI_KIND_LABEL = "strimzi.io/kind"
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"
CA_CERT_GENERATION = "strimzi.io/ca-cert-generation"
CA_KEY_GENERATION = "strimzi.io/ca-key-generation"
# A CA certificate still trusted after its key was replaced is kept as ca-<its not-after>.crt
# (Ca.java OLD_CA_CERT_PATTERN and DATE_TIME_FORMATTER; the "replacing private keys" procedure);
# the operator trusts every *.crt key of the Secret (Ca.trustedCaCerts).
RETAINED_CERT_KEY = re.compile(r"^ca-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\.crt$")


def retained_cert_key(not_after: datetime) -> str:
    """The data key Strimzi gives a retained CA certificate: `ca-2023-01-26T17-32-00Z.crt`."""
    moment = not_after.replace(tzinfo=timezone.utc) if not_after.tzinfo is None else not_after.astimezone(timezone.utc)
    return moment.strftime("ca-%Y-%m-%dT%H-%M-%SZ.crt")


@dataclass(frozen=True)
class StrimziCa:
    """One CA in Strimzi's form: paths relative to the kustomization directory, and generations."""

    cert: str  # ca.crt: the CA's certificate, then its issuers up to the root
    key: str  # ca.key
    cert_generation: int
    key_generation: int
    truststore: str | None = None  # ca.p12: a PKCS12 truststore, the CA as a trusted entry "ca.crt"
    password: str | None = None  # ca.password: the truststore's password, no newline
    retained: Mapping[str, str] = field(default_factory=dict)  # ca-<not-after>.crt → path

    def __post_init__(self) -> None:
        if (self.truststore is None) != (self.password is None):
            raise ValueError("ca.p12 and ca.password go together")
        if min(self.cert_generation, self.key_generation) < 0:
            raise ValueError("Strimzi's generations start at 0")
        object.__setattr__(self, "retained", MappingProxyType(dict(self.retained)))
        bad = [k for k in self.retained if not RETAINED_CERT_KEY.match(k)]
        if bad:
            raise ValueError(f"retained CA certificates must be keyed ca-YYYY-MM-DDTHH-MM-SSZ.crt, not {bad}")


def strimzi_cert_secret_name(cluster: str, role: str) -> str:
    """KafkaResources.clusterCaCertificateSecretName / clientsCaCertificateSecretName."""
    name = f"{cluster}-{_role(role)}-ca-cert"
    return _checked(secret_name_problem(name), name)


def strimzi_key_secret_name(cluster: str, role: str) -> str:
    """KafkaResources.clusterCaKeySecretName / clientsCaKeySecretName."""
    name = f"{cluster}-{_role(role)}-ca"
    return _checked(secret_name_problem(name), name)


def _role(role: str) -> str:
    if role not in STRIMZI_ROLES:
        raise ValueError(f"Strimzi CA role {role!r}: expected one of {', '.join(STRIMZI_ROLES)}")
    return role


def strimzi_ca_secrets(cluster: str, role: str, ca: StrimziCa) -> tuple[SecretFiles, SecretFiles]:
    """The certificate Secret and the key Secret of Strimzi's cluster or clients CA."""
    labels = {**MANAGED_BY, STRIMZI_KIND_LABEL: "Kafka", STRIMZI_CLUSTER_LABEL: cluster}
    cert_files = {"ca.crt": ca.cert, **ca.retained}
    if ca.truststore is not None and ca.password is not None:
        cert_files |= {"ca.p12": ca.truststore, "ca.password": ca.password}
    cert_secret = SecretFiles(strimzi_cert_secret_name(cluster, role), cert_files, labels,
                              {CA_CERT_GENERATION: str(ca.cert_generation)})
    key_secret = SecretFiles(strimzi_key_secret_name(cluster, role), {"ca.key": ca.key}, labels,
                             {CA_KEY_GENERATION: str(ca.key_generation)})
    return cert_secret, key_secret


def strimzi_secrets(cluster: str, cluster_ca: StrimziCa, clients_ca: StrimziCa) -> list[SecretFiles]:
    """All four Secrets: Strimzi wants both CAs user-supplied or generated per `generateCertificateAuthority`
    of each; one tlsgen CA may serve as both, in two pairs of Secrets."""
    return [*strimzi_ca_secrets(cluster, "cluster", cluster_ca), *strimzi_ca_secrets(cluster, "clients", clients_ca)]
