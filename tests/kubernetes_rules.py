"""What the Kubernetes API server would refuse in a Secret, checked here because the tests have no
API server. Written from the Go source, independently of tlsgen/render/kubernetes.py, so that a
mistake in one is caught by the other (kubernetes/kubernetes at 008b3652959ca58af8be3fb5b6ecfe9ae7638282):

- ValidateSecret (pkg/apis/core/validation/validation.go): the name by ValidateSecretName =
  NameIsDNSSubdomain; each data key by IsConfigMapKey; the sum of the decoded values at most
  MaxSecretSize = 1 MiB (pkg/apis/core/types.go);
- ValidateObjectMeta (staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go): the
  namespace a DNS-1123 label; labels by ValidateLabels (key IsQualifiedName, value IsValidLabelValue);
  annotation keys IsQualifiedName of the lowercased key, the sum of len(key)+len(value) at most
  TotalAnnotationSizeLimitB = 256 KiB;
- the formats (staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go and
  pkg/api/validate/content/kube.go).
"""

from __future__ import annotations

import base64
import binascii
import json
import re

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = re.compile("^" + DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*$")
DNS1123_LABEL = re.compile("^" + DNS1123_LABEL_FMT + "$")
CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MAX_SECRET_SIZE = 1024 * 1024
TOTAL_ANNOTATION_SIZE = 256 * 1024
# Secret types whose extra rules a tlsgen Secret would have to meet (ValidateSecret's switch);
# Opaque has none.
KNOWN_TYPES = {"Opaque", "kubernetes.io/tls"}


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(DNS1123_SUBDOMAIN.match(value))


def is_config_map_key(value: str) -> bool:
    # hasChDirPrefix: not ".", not "..", not starting with "..".
    return len(value) <= 253 and bool(CONFIG_MAP_KEY.match(value)) and value != "." and not value.startswith("..")


def is_qualified_name(value: str) -> bool:
    parts = value.split("/")
    if len(parts) > 2:
        return False
    if len(parts) == 2 and not (parts[0] and is_dns1123_subdomain(parts[0])):
        return False
    name = parts[-1]
    return 0 < len(name) <= 63 and bool(LABEL_KEY_NAME.match(name))


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(LABEL_VALUE.match(value))


def secret_problems(obj: dict) -> list[str]:
    """Every reason the API server would refuse `obj` (a parsed Secret manifest); empty when none."""
    problems = []
    if obj.get("apiVersion") != "v1" or obj.get("kind") != "Secret":
        problems.append(f"not a v1 Secret: {obj.get('apiVersion')} {obj.get('kind')}")
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    if not is_dns1123_subdomain(name):
        problems.append(f"name {name!r} is not a DNS-1123 subdomain of at most 253 characters")
    namespace = meta.get("namespace")
    if namespace is not None and not (len(namespace) <= 63 and DNS1123_LABEL.match(namespace)):
        problems.append(f"namespace {namespace!r} is not a DNS-1123 label")
    for key, value in (meta.get("labels") or {}).items():
        if not is_qualified_name(key):
            problems.append(f"label key {key!r} is not a qualified name")
        if not isinstance(value, str) or not is_label_value(value):
            problems.append(f"label {key}: value {value!r} is not a valid label value")
    annotations = meta.get("annotations") or {}
    for key, value in annotations.items():
        if not is_qualified_name(key.lower()):
            problems.append(f"annotation key {key!r} is not a qualified name")
        if not isinstance(value, str):
            problems.append(f"annotation {key}: value {value!r} is not a string")
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > TOTAL_ANNOTATION_SIZE:
        problems.append(f"annotations exceed {TOTAL_ANNOTATION_SIZE} bytes")
    if obj.get("type", "Opaque") not in KNOWN_TYPES:
        problems.append(f"unexpected type {obj.get('type')!r}")
    total = 0
    for key, value in (obj.get("data") or {}).items():
        if not is_config_map_key(key):
            problems.append(f"data key {key!r} is not a valid Secret key")
        try:
            # Go's encoding/json reads a []byte field with base64.StdEncoding, which ignores \r and
            # \n ("New line characters are ignored", encoding/base64): kustomize folds long values
            # into a block scalar of 70-character lines. Anything else outside the alphabet is refused.
            total += len(base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True))
        except (binascii.Error, TypeError, ValueError):
            problems.append(f"data {key}: value is not valid base64")
    if total > MAX_SECRET_SIZE:
        problems.append(f"data holds {total} bytes, more than {MAX_SECRET_SIZE}")
    return problems


def client_side_apply_problem(obj: dict) -> str | None:
    """`kubectl apply` without --server-side copies the whole object, data included, into the
    kubectl.kubernetes.io/last-applied-configuration annotation, so a Secret whose JSON passes the
    256 KiB annotation limit is refused ("metadata.annotations: Too long", kubernetes/kubectl#712)."""
    size = len(json.dumps(obj, separators=(",", ":")))
    if size > TOTAL_ANNOTATION_SIZE:
        return f"{size} bytes as JSON: too large for client-side `kubectl apply`; use --server-side"
    return None
