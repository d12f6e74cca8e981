"""render/kubernetes.py: kustomizations rendered by the real `kubectl kustomize` from real PEM, PKCS12
and JKS files; every Secret checked against the API server's rules (tests/kubernetes_rules.py), its
stores opened by keytool and OpenSSL with the passwords in the same Secret, and Strimzi's CA
Secrets in exactly their documented form."""

from __future__ import annotations

import base64
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import need
from tests.kubernetes_rules import client_side_apply_problem, secret_problems
from tlsgen.crypto import stores
from tlsgen.render import kubernetes as k8s
from tlsgen.render.kubernetes import SecretFiles, StrimziCa

NAMESPACE = "kafka"
CLUSTER = "callisto"
PASSWORDS = {"kafka-tester": "Zq7tW2mPx9LkR4vB8nJc3HsD6fGy1aUe", "kafka": "Hb5nQ8wE2rT6yU1iO4pA7sD9fG3hJ0kL",
             "ca": "Mn4bV7cX1zL8kJ5hG2fD9sA6pO3iU0yT"}
ENTITY_FILES = ("{name}.crt", "{name}.key", "chain.pem", "ca.pem", "keystore.{ext}", "truststore.{ext}",
                "keystore.password", "truststore.password", "key.password")


# --- a real PKI on disk, laid out as out/ ------------------------------------------------------

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: x509.Certificate | None, issuer_key, *, ca: bool, days: int = 30):
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(issuer.subject if issuer else _name(subject)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _encryption(password: str):
    return (serialization.PrivateFormat.PKCS12.encryption_builder()
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
            .build(password.encode()))


def _java_truststore(certs: list[tuple[str, x509.Certificate]], password: str) -> bytes:
    # With Java's trusted-key-usage attribute, so keytool lists each as a trustedCertEntry.
    return pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(c, a.encode()) for a, c in certs],
                                            _encryption(password))


class OutTree:
    """out/ with one CA, a client with PKCS12 stores and a broker with JKS stores."""

    def __init__(self, out: Path):
        self.out = out
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("Callisto Root", self.ca_key, None, self.ca_key, ca=True, days=365)
        self.old_ca_key = ec.generate_private_key(ec.SECP256R1())
        self.old_ca = _cert("Callisto Root v0", self.old_ca_key, None, self.old_ca_key, ca=True, days=60)
        ca_dir = out / "cas" / "callisto-root"
        self._write(ca_dir, {"ca.crt": _pem(self.ca), "ca.key": _key_pem(self.ca_key),
                             "ca.p12": _java_truststore([("ca.crt", self.ca)], PASSWORDS["ca"]),
                             "ca.password": PASSWORDS["ca"].encode(), "old.crt": _pem(self.old_ca)})
        self.leaves = {}
        for kind, name, fmt in (("clients", "kafka-tester", "pkcs12"), ("brokers", "kafka", "jks")):
            key = ec.generate_private_key(ec.SECP256R1())
            leaf = _cert(name, key, self.ca, self.ca_key, ca=False)
            self.leaves[name] = leaf
            password = PASSWORDS[name]
            ext = "p12" if fmt == "pkcs12" else "jks"
            if fmt == "pkcs12":
                keystore = pkcs12.serialize_key_and_certificates(name.encode(), key, leaf, None, _encryption(password))
                truststore = _java_truststore([("callisto-root", self.ca)], password)
            else:
                keystore = stores.keystore_bytes("jks", alias=name, key=key, chain=[leaf], password=password)
                truststore = stores.truststore_bytes("jks", certs=[("callisto-root", self.ca)], password=password)
            self._write(out / kind / name, {
                f"{name}.crt": _pem(leaf), f"{name}.key": _key_pem(key), "chain.pem": _pem(leaf),
                "ca.pem": _pem(self.ca), f"keystore.{ext}": keystore, f"truststore.{ext}": truststore,
                "keystore.password": password.encode(), "truststore.password": password.encode(),
                "key.password": password.encode()})

    @staticmethod
    def _write(directory: Path, files: dict[str, bytes]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (directory / name).write_bytes(data)

    def entity_secret(self, kind: str, name: str) -> SecretFiles:
        ext = "p12" if kind == "clients" else "jks"
        files = [f.format(name=name, ext=ext) for f in ENTITY_FILES]
        return SecretFiles(k8s.entity_secret_name(name), {f: f"{name}/{f}" for f in files},
                           k8s.entity_labels(kind, name))

    def write_kustomizations(self, strimzi_ca: StrimziCa) -> Path:
        """The layout SPEC's `kubectl apply -k out/kubernetes` needs without copying files: one
        kustomization per out/ folder that holds the files, gathered by out/kubernetes."""
        apply_dir = "out/kubernetes"
        kustomizations = {
            "cas": k8s.render_kustomization(NAMESPACE, k8s.strimzi_secrets(CLUSTER, strimzi_ca, strimzi_ca),
                                            apply_dir=apply_dir),
            "clients": k8s.render_kustomization(NAMESPACE, [self.entity_secret("clients", "kafka-tester")],
                                                apply_dir=apply_dir),
            "brokers": k8s.render_kustomization(NAMESPACE, [self.entity_secret("brokers", "kafka")],
                                                apply_dir=apply_dir),
            "kubernetes": k8s.render_kustomization(NAMESPACE, [], resources=["../cas", "../clients", "../brokers"],
                                                   apply_dir=apply_dir),
        }
        for folder, text in kustomizations.items():
            (self.out / folder).mkdir(exist_ok=True)
            (self.out / folder / "kustomization.yaml").write_text(text)
        return self.out / "kubernetes"


STRIMZI_CA = StrimziCa(cert="callisto-root/ca.crt", key="callisto-root/ca.key", cert_generation=0, key_generation=0,
                       truststore="callisto-root/ca.p12", password="callisto-root/ca.password")


def kustomize(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([need("kubectl"), "kustomize", str(directory)], capture_output=True, text=True, timeout=120)


def rendered_secrets(directory: Path) -> dict[str, dict]:
    result = kustomize(directory)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert all(d["kind"] == "Secret" for d in docs)
    secrets = {d["metadata"]["name"]: d for d in docs}
    assert len(secrets) == len(docs), "two Secrets with one name"
    return secrets


def data(secret: dict, key: str) -> bytes:
    # kustomize folds long values into 70-character lines, which the API server's decoder skips.
    return base64.b64decode(secret["data"][key].replace("\n", ""), validate=True)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> OutTree:
    return OutTree(tmp_path_factory.mktemp("k8s") / "out")


@pytest.fixture(scope="module")
def secrets(tree) -> dict[str, dict]:
    return rendered_secrets(tree.write_kustomizations(STRIMZI_CA))


def keytool_list(store: bytes, store_type: str, password: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / f"store.{store_type.lower()}"
    path.write_bytes(store)
    return subprocess.run([need("keytool"), "-list", "-v", "-storetype", store_type, "-keystore", str(path),
                           "-storepass", password], capture_output=True, text=True, timeout=120)


def openssl(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([need("openssl"), *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)


# --- the rendered Secrets ---------------------------------------------------------------------

def test_one_secret_per_entry_in_the_namespace_valid_for_the_api_server(secrets):
    assert set(secrets) == {"kafka-tester-tls", "kafka-tls", "callisto-cluster-ca-cert", "callisto-cluster-ca",
                            "callisto-clients-ca-cert", "callisto-clients-ca"}
    for name, secret in secrets.items():
        assert secret["metadata"]["namespace"] == NAMESPACE, name
        assert secret["type"] == "Opaque", name
        assert secret_problems(secret) == [], name
        assert client_side_apply_problem(secret) is None, name


def test_entity_secrets_hold_the_files_byte_for_byte_with_their_labels(tree, secrets):
    for kind, name in (("clients", "kafka-tester"), ("brokers", "kafka")):
        secret = secrets[f"{name}-tls"]
        assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "tlsgen",
                                                "app.kubernetes.io/instance": name,
                                                "app.kubernetes.io/component": kind[:-1]}
        assert "annotations" not in secret["metadata"]
        directory = tree.out / kind / name
        assert set(secret["data"]) == {p.name for p in directory.iterdir()} - {"kustomization.yaml"}
        for key in secret["data"]:
            assert data(secret, key) == (directory / key).read_bytes(), key


@pytest.mark.parametrize("name, store_type, ext", [("kafka-tester", "PKCS12", "p12"), ("kafka", "JKS", "jks")])
def test_entity_stores_open_with_the_passwords_in_the_same_secret(secrets, name, store_type, ext, tmp_path):
    secret = secrets[f"{name}-tls"]
    keystore = keytool_list(data(secret, f"keystore.{ext}"), store_type, data(secret, "keystore.password").decode(),
                            tmp_path)
    assert keystore.returncode == 0, keystore.stdout + keystore.stderr
    assert "Entry type: PrivateKeyEntry" in keystore.stdout
    truststore = keytool_list(data(secret, f"truststore.{ext}"), store_type,
                              data(secret, "truststore.password").decode(), tmp_path)
    assert truststore.returncode == 0, truststore.stdout + truststore.stderr
    assert "Entry type: trustedCertEntry" in truststore.stdout
    assert "Owner: CN=Callisto Root" in truststore.stdout
    # The control: a wrong password is refused, so the checks above can fail.
    wrong = keytool_list(data(secret, f"keystore.{ext}"), store_type, "not-the-password", tmp_path)
    assert wrong.returncode != 0


def test_pkcs12_keystore_opens_in_openssl_with_its_secret_password(secrets, tmp_path):
    secret = secrets["kafka-tester-tls"]
    (tmp_path / "keystore.p12").write_bytes(data(secret, "keystore.p12"))
    password = data(secret, "keystore.password").decode()
    opened = openssl("pkcs12", "-in", "keystore.p12", "-passin", f"pass:{password}", "-nodes", tmp_path=tmp_path)
    assert opened.returncode == 0, opened.stderr
    assert "BEGIN PRIVATE KEY" in opened.stdout and "subject=CN=kafka-tester" in opened.stdout.replace(" = ", "=")
    wrong = openssl("pkcs12", "-in", "keystore.p12", "-passin", "pass:wrong", "-nodes", tmp_path=tmp_path)
    assert wrong.returncode != 0


def test_trust_bundle_in_the_secret_verifies_the_certificate_in_it(secrets, tmp_path):
    secret = secrets["kafka-tester-tls"]
    (tmp_path / "ca.pem").write_bytes(data(secret, "ca.pem"))
    (tmp_path / "leaf.crt").write_bytes(data(secret, "kafka-tester.crt"))
    verified = openssl("verify", "-CAfile", "ca.pem", "leaf.crt", tmp_path=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The control: another CA does not verify it.
    (tmp_path / "other.pem").write_bytes(data(secrets["kafka-tls"], "kafka.crt"))
    refused = openssl("verify", "-CAfile", "other.pem", "leaf.crt", tmp_path=tmp_path)
    assert refused.returncode != 0


# --- Strimzi ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["cluster", "clients"])
def test_strimzi_ca_secrets_in_their_documented_form(tree, secrets, role, tmp_path):
    labels = {"strimzi.io/kind": "Kafka", "strimzi.io/cluster": CLUSTER, "app.kubernetes.io/managed-by": "tlsgen"}
    cert_secret, key_secret = secrets[f"{CLUSTER}-{role}-ca-cert"], secrets[f"{CLUSTER}-{role}-ca"]
    assert cert_secret["metadata"]["labels"] == labels == key_secret["metadata"]["labels"]
    assert cert_secret["metadata"]["annotations"] == {"strimzi.io/ca-cert-generation": "0"}
    assert key_secret["metadata"]["annotations"] == {"strimzi.io/ca-key-generation": "0"}
    assert set(cert_secret["data"]) == {"ca.crt", "ca.p12", "ca.password"}
    assert set(key_secret["data"]) == {"ca.key"}

    ca = x509.load_pem_x509_certificate(data(cert_secret, "ca.crt"))
    assert ca == tree.ca
    key = serialization.load_pem_private_key(data(key_secret, "ca.key"), None)
    assert key.public_key().public_numbers() == ca.public_key().public_numbers()

    password = data(cert_secret, "ca.password").decode()
    assert password == PASSWORDS["ca"] and "\n" not in password
    listed = keytool_list(data(cert_secret, "ca.p12"), "PKCS12", password, tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    # One entry, alias "ca.crt" as the operator writes it (InternalCa: addCertToTrustStore(.., CA_CRT, ..)),
    # trusted, holding the CA certificate.
    assert "Your keystore contains 1 entry" in listed.stdout
    assert "Alias name: ca.crt" in listed.stdout and "Entry type: trustedCertEntry" in listed.stdout
    fingerprint = ca.fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"SHA256: {fingerprint}" in listed.stdout
    assert keytool_list(data(cert_secret, "ca.p12"), "PKCS12", "wrong", tmp_path).returncode != 0


def test_strimzi_rollover_keeps_the_old_certificate_under_its_dated_key(tree, tmp_path):
    """A key replacement in Strimzi's documented form: the new CA as ca.crt, the old kept as
    ca-<its not-after>.crt, both generations raised."""
    retained = k8s.retained_cert_key(tree.old_ca.not_valid_after_utc)
    ca = StrimziCa(cert="callisto-root/ca.crt", key="callisto-root/ca.key", cert_generation=1, key_generation=1,
                   retained={retained: "callisto-root/old.crt"})
    cas = tree.out / "cas"
    (cas / "kustomization.yaml").write_text(k8s.render_kustomization(NAMESPACE, k8s.strimzi_secrets(CLUSTER, ca, ca)))
    secrets = rendered_secrets(cas)
    for role in k8s.STRIMZI_ROLES:
        cert_secret = secrets[f"{CLUSTER}-{role}-ca-cert"]
        assert set(cert_secret["data"]) == {"ca.crt", retained}
        assert x509.load_pem_x509_certificate(data(cert_secret, retained)) == tree.old_ca
        assert cert_secret["metadata"]["annotations"] == {"strimzi.io/ca-cert-generation": "1"}
        assert secrets[f"{CLUSTER}-{role}-ca"]["metadata"]["annotations"] == {"strimzi.io/ca-key-generation": "1"}
        assert secret_problems(cert_secret) == []


def test_retained_key_has_strimzis_format():
    # Strimzi's own example: ca-2023-01-26T17-32-00Z.crt (proc-replacing-your-own-private-keys.adoc).
    assert k8s.retained_cert_key(datetime(2023, 1, 26, 17, 32, tzinfo=timezone.utc)) == "ca-2023-01-26T17-32-00Z.crt"
    tz = timezone(timedelta(hours=2))
    assert k8s.retained_cert_key(datetime(2023, 1, 26, 19, 32, 5, tzinfo=tz)) == "ca-2023-01-26T17-32-05Z.crt"
    with pytest.raises(ValueError, match="ca-YYYY"):
        StrimziCa(cert="a/ca.crt", key="a/ca.key", cert_generation=1, key_generation=1, retained={"old.crt": "a/o"})
    with pytest.raises(ValueError, match="go together"):
        StrimziCa(cert="a/ca.crt", key="a/ca.key", cert_generation=0, key_generation=0, truststore="a/ca.p12")


# --- kustomize's rules the layout depends on --------------------------------------------------

def test_fixed_names_come_from_disable_name_suffix_hash(tree, tmp_path):
    """The control for the exact names above: without the option kustomize appends a content hash."""
    clients = tree.out / "clients"
    text = k8s.render_kustomization(NAMESPACE, [tree.entity_secret("clients", "kafka-tester")])
    assert text.count("disableNameSuffixHash: true") == 1
    (clients / "kustomization.yaml").write_text(text.replace("disableNameSuffixHash: true", "{}"))
    try:
        (name,) = rendered_secrets(clients)
        assert name.startswith("kafka-tester-tls-") and name != "kafka-tester-tls"
    finally:
        (clients / "kustomization.yaml").write_text(text)


def test_kustomize_refuses_files_outside_the_kustomization_directory(tree, tmp_path):
    """Why each out/ folder gets its own kustomization: `../` and symlinks out are refused
    (LoadRestrictionsRootOnly), and so is an ancestor directory as a resource."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text(
        "secretGenerator:\n  - name: x\n    files:\n      - ca.crt=../out-cas/ca.crt\n")
    (tmp_path / "out-cas").mkdir()
    (tmp_path / "out-cas" / "ca.crt").write_bytes(_pem(tree.ca))
    refused = kustomize(outside)
    assert refused.returncode != 0 and "is not in or below" in refused.stderr

    (outside / "link.crt").symlink_to(tmp_path / "out-cas" / "ca.crt")
    (outside / "kustomization.yaml").write_text("secretGenerator:\n  - name: x\n    files:\n      - ca.crt=link.crt\n")
    refused = kustomize(outside)
    assert refused.returncode != 0 and "is not in or below" in refused.stderr

    inner = outside / "kubernetes"
    inner.mkdir()
    (outside / "kustomization.yaml").write_text("resources: []\n")
    (inner / "kustomization.yaml").write_text("resources:\n  - ..\n")
    refused = kustomize(inner)
    assert refused.returncode != 0 and "cycle detected" in refused.stderr


def test_renderer_refuses_what_kustomize_or_the_api_server_would():
    with pytest.raises(ValueError, match="below the kustomization"):
        SecretFiles("x-tls", {"ca.crt": "../cas/ca.crt"})
    with pytest.raises(ValueError, match="below the kustomization"):
        SecretFiles("x-tls", {"ca.crt": "/abs/ca.crt"})
    with pytest.raises(ValueError, match="'='"):
        SecretFiles("x-tls", {"ca.crt": "a=b/ca.crt"})
    with pytest.raises(ValueError, match="data key"):
        SecretFiles("x-tls", {"a b": "x/a"})
    with pytest.raises(ValueError, match="data key"):
        SecretFiles("x-tls", {"..a": "x/a"})
    with pytest.raises(ValueError, match="DNS-1123 subdomain"):
        SecretFiles("X_tls", {"a": "x/a"})
    with pytest.raises(ValueError, match="no files"):
        SecretFiles("x-tls", {})
    with pytest.raises(ValueError, match="label value"):
        SecretFiles("x-tls", {"a": "x/a"}, {"k": "v" * 64})
    with pytest.raises(ValueError, match="label key"):
        SecretFiles("x-tls", {"a": "x/a"}, {"a/b/c": "v"})
    with pytest.raises(ValueError, match="annotation key"):
        SecretFiles("x-tls", {"a": "x/a"}, annotations={"-bad": "v"})
    with pytest.raises(ValueError, match="two Secrets named x-tls"):
        k8s.render_kustomization(NAMESPACE, [SecretFiles("x-tls", {"a": "x/a"}), SecretFiles("x-tls", {"b": "x/b"})])
    with pytest.raises(ValueError, match="DNS-1123 label"):
        k8s.render_kustomization("Kafka", [SecretFiles("x-tls", {"a": "x/a"})])
    with pytest.raises(ValueError, match="role"):
        k8s.strimzi_cert_secret_name(CLUSTER, "client")
    checked = SecretFiles("x-tls", {"a": "x/a"})
    with pytest.raises(TypeError):  # what was checked cannot change afterwards
        checked.files["../b"] = "../b"  # type: ignore[index]


def test_names_fit_kubernetes_limits_for_the_longest_entity_name():
    longest = "a" * 62 + "z"  # entity names: at most 63 lowercase letters, digits and '-'
    assert k8s.entity_secret_name(longest) == longest + "-tls"
    assert k8s.entity_labels("clients", longest)["app.kubernetes.io/instance"] == longest
    assert k8s.strimzi_cert_secret_name(longest, "clients") == longest + "-clients-ca-cert"
    assert k8s.strimzi_key_secret_name(CLUSTER, "cluster") == "callisto-cluster-ca"
    with pytest.raises(ValueError):
        k8s.entity_secret_name("-starts-with-a-dash")


def test_rendering_is_deterministic_whatever_the_input_order():
    a = SecretFiles("a-tls", {"x.crt": "a/x.crt", "y.key": "a/y.key"}, {"k1": "v", "k2": "w"})
    a_reordered = SecretFiles("a-tls", {"y.key": "a/y.key", "x.crt": "a/x.crt"}, {"k2": "w", "k1": "v"})
    b = SecretFiles("b-tls", {"z": "b/z"})
    first = k8s.render_kustomization(NAMESPACE, [a, b], resources=["../y", "../x"])
    assert first == k8s.render_kustomization(NAMESPACE, [b, a_reordered], resources=["../x", "../y"])
    assert first.startswith("# Written by tlsgen: edits are undone by the next `tlsgen apply`.\n")
    assert "kubectl apply -k out/kubernetes" in first


# --- the rule checker itself can fail ---------------------------------------------------------

def _secret(**changes) -> dict:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "ok-tls", "namespace": "kafka", "labels": {"a.b/c": "d"}},
              "data": {"ca.crt": base64.b64encode(b"x").decode()}}
    for path, value in changes.items():
        target = secret
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    return secret


@pytest.mark.parametrize("changes, problem", [
    ({}, None),
    ({"metadata__name": "Bad_Name"}, "DNS-1123 subdomain"),
    ({"metadata__name": "a" * 254}, "DNS-1123 subdomain"),
    ({"metadata__namespace": "kafka.ns"}, "DNS-1123 label"),
    ({"data": {"a b": "eA=="}}, "not a valid Secret key"),
    ({"data": {"..x": "eA=="}}, "not a valid Secret key"),
    ({"data": {"ok": "not base64!"}}, "not valid base64"),
    ({"data": {"big": base64.b64encode(b"\0" * (1024 * 1024 + 1)).decode()}}, "more than 1048576"),
    ({"metadata__labels": {"k": "v" * 64}}, "not a valid label value"),
    ({"metadata__labels": {"a/b/c": "v"}}, "not a qualified name"),
    ({"metadata__annotations": {"k": 0}}, "not a string"),
])
def test_rule_checker_refuses_what_the_api_server_refuses(changes, problem):
    found = secret_problems(_secret(**changes))
    if problem is None:
        assert found == []
    else:
        assert any(problem in p for p in found), found


def test_client_side_apply_limit_is_checked():
    big = _secret(data={"big": base64.b64encode(b"\0" * 200_000).decode()})
    assert secret_problems(big) == []  # the API server takes it ...
    assert "--server-side" in client_side_apply_problem(big)  # ... but client-side `kubectl apply` does not
