"""What `tlsgen apply` writes for Kubernetes, rendered by the real kustomize (kubectl kustomize) and
opened by keytool and OpenSSL: one Secret per entity from out/'s own files, and Strimzi's CA Secrets
whose generation annotations rise exactly when what they hold changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import tlsgen
from cryptography import x509

from kubernetes_rules import client_side_apply_problem, secret_problems
from test_kubernetes import data, keytool_list, openssl, rendered_secrets

SPEC = """\
version: 1
output: out
defaults: {key: ec-p256}
cas:
  root: {subject: {common_name: Test Root}}
  issuing: {issuer: root, path_length: 0}
brokers:
  kafka: {issuer: issuing, keystore: jks, truststore: jks}
clients:
  app: {issuer: issuing, brokers: [kafka]}
servers:
  mongodb: {issuer: issuing}
kubernetes:
  namespace: kafka
  strimzi: {cluster: callisto, cluster_ca: issuing, clients_ca: issuing}
"""


def apply(root: Path, *args: str) -> str:
    result = tlsgen("apply", "tls.yaml", *args, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kubernetes")
    (root / "tls.yaml").write_text(SPEC)
    apply(root)
    return root


@pytest.fixture(scope="module")
def secrets(project) -> dict[str, dict]:
    return rendered_secrets(project / "out/kubernetes")


def generations(secrets: dict, role: str = "cluster") -> tuple[str, str]:
    return (secrets[f"callisto-{role}-ca-cert"]["metadata"]["annotations"]["strimzi.io/ca-cert-generation"],
            secrets[f"callisto-{role}-ca"]["metadata"]["annotations"]["strimzi.io/ca-key-generation"])


def test_one_secret_per_entity_and_strimzis_four_in_the_namespace(secrets):
    assert set(secrets) == {"kafka-tls", "app-tls", "mongodb-tls", "callisto-cluster-ca-cert", "callisto-cluster-ca",
                            "callisto-clients-ca-cert", "callisto-clients-ca"}
    for name, secret in secrets.items():
        assert secret["metadata"]["namespace"] == "kafka"
        assert secret_problems(secret) == [] and client_side_apply_problem(secret) is None, name


def test_entity_secrets_are_out_s_files_with_the_keys_kubernetes_users_expect(project, secrets):
    secret = secrets["app-tls"]
    directory = project / "out/clients/app"
    assert {"tls.crt", "tls.key", "ca.crt", "keystore.p12", "truststore.p12", "keystore.password",
            "client.properties", "librdkafka.properties"} <= set(secret["data"])
    assert "app.env" not in secret["data"]  # compose's, not a pod's
    assert data(secret, "tls.crt") == (directory / "chain.pem").read_bytes()
    assert data(secret, "tls.key") == (directory / "app.key").read_bytes()
    assert data(secret, "keystore.p12") == (directory / "keystore.p12").read_bytes()
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == "app"


@pytest.mark.parametrize("name, store_type, ext", [("app", "PKCS12", "p12"), ("kafka", "JKS", "jks")])
def test_stores_open_with_the_passwords_in_the_same_secret(secrets, name, store_type, ext, tmp_path):
    secret = secrets[f"{name}-tls"]
    for store, password in ((f"keystore.{ext}", "keystore.password"), (f"truststore.{ext}", "truststore.password")):
        listed = keytool_list(data(secret, store), store_type, data(secret, password).decode(), tmp_path)
        assert listed.returncode == 0, listed.stdout + listed.stderr
    assert keytool_list(data(secret, f"keystore.{ext}"), store_type, "wrong", tmp_path).returncode != 0


def test_ca_crt_verifies_tls_crt(secrets, tmp_path):
    for name in ("app", "kafka", "mongodb"):
        secret = secrets[f"{name}-tls"]
        (tmp_path / "ca.crt").write_bytes(data(secret, "ca.crt"))
        (tmp_path / "tls.crt").write_bytes(data(secret, "tls.crt"))
        verified = openssl("verify", "-CAfile", "ca.crt", "-untrusted", "tls.crt", "tls.crt", tmp_path=tmp_path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    (tmp_path / "tls.crt").write_bytes(data(secrets["app-tls"], "app.crt"))  # the control: no intermediate given
    assert openssl("verify", "-CAfile", "ca.crt", "tls.crt", tmp_path=tmp_path).returncode != 0


def test_strimzi_secrets_in_their_documented_form(project, secrets, tmp_path):
    for role in ("cluster", "clients"):
        cert, key = secrets[f"callisto-{role}-ca-cert"], secrets[f"callisto-{role}-ca"]
        for secret in (cert, key):
            assert {k: v for k, v in secret["metadata"]["labels"].items() if k.startswith("strimzi.io/")} == \
                {"strimzi.io/kind": "Kafka", "strimzi.io/cluster": "callisto"}
        assert set(cert["data"]) == {"ca.crt", "ca.p12", "ca.password"} and set(key["data"]) == {"ca.key"}
        assert generations(secrets, role) == ("0", "0")
        chain = x509.load_pem_x509_certificates(data(cert, "ca.crt"))  # the CA, then its issuers to the root
        assert [c.subject.rfc4514_string() for c in chain] == ["CN=issuing", "CN=Test Root"]
        listed = keytool_list(data(cert, "ca.p12"), "PKCS12", data(cert, "ca.password").decode(), tmp_path)
        assert listed.returncode == 0 and "Alias name: ca.crt" in listed.stdout
        assert "Entry type: trustedCertEntry" in listed.stdout
    assert (project / "out/cas/issuing/ca.p12").stat().st_mode & 0o777 == 0o600
    assert (project / "out/cas/issuing/ca.password").stat().st_mode & 0o777 == 0o600


def test_a_second_apply_leaves_the_kustomizations_alone(project):
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (project / "out").rglob("*") if p.is_file()}
    assert "no changes" in apply(project)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (project / "out").rglob("*") if p.is_file()} == files


def test_generations_rise_with_what_the_secrets_hold(tmp_path):
    root = tmp_path
    (root / "tls.yaml").write_text(SPEC.replace("issuing: {issuer: root, path_length: 0}",
                                                "issuing: {issuer: root, path_length: 0}\n  other: {}"))
    apply(root)
    assert generations(rendered_secrets(root / "out/kubernetes")) == ("0", "0")
    apply(root, "--renew", "issuing")  # a new certificate, the same key
    assert generations(rendered_secrets(root / "out/kubernetes")) == ("1", "0")
    apply(root, "--rotate-key", "issuing")  # no truststore holds it: replaced in one apply
    assert generations(rendered_secrets(root / "out/kubernetes")) == ("2", "1")
    (root / "tls.yaml").write_text((root / "tls.yaml").read_text().replace("app: {issuer: issuing, brokers: [kafka]}",
                                                                           "app: {issuer: issuing, brokers: [kafka], trust: [root, issuing]}"))
    apply(root)
    assert generations(rendered_secrets(root / "out/kubernetes")) == ("2", "1")  # trust elsewhere: no change here
    steps = []
    for args in (["--rotate-key", "issuing"], ["--continue", "issuing"], ["--continue", "issuing"]):
        apply(root, *args)
        rendered = rendered_secrets(root / "out/kubernetes")
        steps.append((generations(rendered), sorted(rendered["callisto-cluster-ca-cert"]["data"])))
    assert [s[0] for s in steps] == [("3", "1"), ("4", "2"), ("5", "2")]
    assert [len(s[1]) for s in steps] == [4, 4, 3]  # a dated ca-<not after>.crt during the rollover
    assert any(k.startswith("ca-") and k.endswith("Z.crt") for k in steps[0][1])
    assert json.loads((root / "out/.tlsgen/state.json").read_text())["strimzi"]["cluster"]["cert_generation"] == 5


def test_strimzi_needs_a_ca_tlsgen_generates(tmp_path):
    (tmp_path / "tls.yaml").write_text(SPEC.replace("clients_ca: issuing", "clients_ca: nowhere"))
    result = tlsgen("validate", "tls.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "kubernetes.strimzi.clients_ca: no CA named 'nowhere'" in result.stderr
    assert not (tmp_path / "out").exists()
