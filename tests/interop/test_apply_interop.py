"""What `tlsgen apply` really writes, checked by the real consumers: OpenSSL, keytool and Java's JSSE
loading the stores as Kafka does.

One spec, applied once by the CLI: a root and an issuing CA (path_length 0), and for every store
format (pkcs12 modern, pkcs12 legacy, jks, pem) and key type (rsa-2048, ec-p256) a broker
(localhost, 127.0.0.1) and a client that names it in `brokers`. Every check uses only the files in
out/ and the password files next to them; none of tlsgen's Python is called. A second, unrelated
spec (same CA names and subjects, other keys) supplies strangers whose certificates must be refused.
Each check also shows that it can fail: wrong host name, wrong IP, wrong password, foreign CA.
"""

from __future__ import annotations

import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import tlsgen

from interop.consumers import (
    JavaStores,
    java_client,
    java_server,
    keytool_entries,
    keytool_list,
    openssl_client,
    openssl_pkcs12_info,
    openssl_server,
    openssl_verify,
)

# Spec store settings per format label.
FORMATS = {
    "p12-modern": {"keystore": "pkcs12", "truststore": "pkcs12", "pkcs12": "modern"},
    "p12-legacy": {"keystore": "pkcs12", "truststore": "pkcs12", "pkcs12": "legacy"},
    "jks": {"keystore": "jks", "truststore": "jks"},
    "pem": {"keystore": "pem", "truststore": "pem"},
}
KEYS = {"rsa": "rsa-2048", "ec": "ec-p256"}
COMBOS = [(label, key) for label in FORMATS for key in KEYS]
STORE_EXT = {"pkcs12": "p12", "jks": "jks"}
ROOT, ISSUING = "interop-root", "interop-issuing"
CAS = {  # the stranger spec copies names and subjects, so JSSE clients offer its certificates
    ROOT: {"subject": {"common_name": "Interop Root", "organization": "Interop Test", "country": "GB"}},
    ISSUING: {"issuer": ROOT, "path_length": 0,
              "subject": {"common_name": "Interop Issuing", "organization": "Interop Test", "country": "GB"}},
}
CERT_RE = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", re.DOTALL)


@dataclass(frozen=True)
class Entity:
    """An entity directory in out/, read as a consumer would read it."""

    name: str
    dir: Path
    keystore: str  # pkcs12 | jks | pem
    intermediates: Path  # chain.pem without its leaf, in a scratch directory (s_server/s_client -cert_chain)

    @property
    def crt(self) -> Path:
        return self.dir / f"{self.name}.crt"

    @property
    def key(self) -> Path:
        return self.dir / f"{self.name}.key"

    @property
    def chain(self) -> Path:
        return self.dir / "chain.pem"

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    def password(self, name: str) -> str:
        return (self.dir / name).read_text()

    def stores(self) -> JavaStores:
        """The stores and passwords Kafka's ssl.* settings would name for this directory."""
        return JavaStores.of_entity_dir(self.dir)


@dataclass(frozen=True)
class Applied:
    out: Path
    brokers: dict[tuple[str, str], Entity]
    clients: dict[tuple[str, str], Entity]


def broker_name(label: str, key: str) -> str:
    return f"kafka-{label}-{key}"


def client_name(label: str, key: str) -> str:
    return f"app-{label}-{key}"


def apply_spec(project: Path, spec: dict) -> Path:
    (project / "specs").mkdir(parents=True)
    (project / "specs/tlsgen.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = tlsgen("apply", "specs", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "out"


def entity(out: Path, kind: str, name: str, keystore: str, scratch: Path) -> Entity:
    directory = out / kind / name
    certs = CERT_RE.findall((directory / "chain.pem").read_text())
    assert len(certs) == 2, f"{directory}/chain.pem: expected leaf + issuing CA, found {len(certs)} certificates"
    intermediates = scratch / f"{name}.intermediates.pem"
    intermediates.write_text("".join(certs[1:]))
    return Entity(name, directory, keystore, intermediates)


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Applied:
    project = tmp_path_factory.mktemp("apply-interop")
    brokers, clients = {}, {}
    for label, key in COMBOS:
        stores = FORMATS[label]
        brokers[broker_name(label, key)] = {"issuer": ISSUING, "key": KEYS[key], "hostnames": ["localhost"],
                                            "ip_addresses": ["127.0.0.1"], **stores}
        clients[client_name(label, key)] = {"issuer": ISSUING, "key": KEYS[key], "brokers": [broker_name(label, key)],
                                            "mount": "/opt/app/tls", **stores}
    out = apply_spec(project, {"version": 1, "output": "../out", "cas": CAS, "brokers": brokers,
                               "clients": clients, "compose": {"file": None}})
    scratch = tmp_path_factory.mktemp("apply-interop-scratch")
    return Applied(
        out,
        {(l, k): entity(out, "brokers", broker_name(l, k), FORMATS[l]["keystore"], scratch) for l, k in COMBOS},
        {(l, k): entity(out, "clients", client_name(l, k), FORMATS[l]["keystore"], scratch) for l, k in COMBOS})


@pytest.fixture(scope="module")
def strangers(tmp_path_factory) -> dict[str, Entity]:
    """Per format, an ec-p256 client of a second spec: same CA names and subjects, unrelated keys."""
    project = tmp_path_factory.mktemp("apply-interop-stranger")
    clients = {client_name(label, "ec"): {"issuer": ISSUING, "key": "ec-p256", **FORMATS[label]} for label in FORMATS}
    out = apply_spec(project, {"version": 1, "output": "../out", "cas": CAS, "clients": clients,
                               "compose": {"file": None}})
    return {label: entity(out, "clients", client_name(label, "ec"), FORMATS[label]["keystore"], project)
            for label in FORMATS}


@pytest.fixture(params=COMBOS, ids=[f"{l}-{k}" for l, k in COMBOS])
def combo(request) -> tuple[str, str]:
    return request.param


# --- the tree -----------------------------------------------------------------------------------

SECRET_SUFFIXES = (".key", ".password", ".p12", ".jks", ".properties", ".env")


def test_secrets_are_0600_directories_0700_and_gitignore_is_star(applied):
    out = applied.out
    assert out.joinpath(".gitignore").read_text().strip() == "*"
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    passwords, secret_files, public_files = set(), [], []
    for dirpath, dirnames, filenames in os.walk(out):
        for d in dirnames:
            mode = stat.S_IMODE(os.lstat(Path(dirpath, d)).st_mode)
            assert mode == 0o700, f"{dirpath}/{d}: {mode:04o}"
        for f in filenames:
            path = Path(dirpath, f)
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if f.endswith(SECRET_SUFFIXES) or f == "keystore.pem":
                assert mode == 0o600, f"{path}: {mode:04o}"
                secret_files.append(path)
            else:
                assert mode & 0o022 == 0, f"{path}: {mode:04o} is writable by others"
                public_files.append(path)
            if f.endswith(".password"):
                passwords.add(path.read_text())
    kinds = {p.suffix or p.name for p in secret_files}
    assert {".key", ".password", ".p12", ".jks", ".properties", ".env", ".pem"} <= kinds
    assert passwords and all(re.fullmatch(r"[A-Za-z0-9]{32,}", p) for p in passwords)
    # No password shows in a file that is not 0600 (certificates, bundles, the state file).
    for path in public_files:
        text = path.read_bytes().decode("utf-8", "replace")
        assert not any(p in text for p in passwords), path


# --- OpenSSL ------------------------------------------------------------------------------------

def test_openssl_verifies_every_chain_with_host_name_and_ip(applied, combo):
    broker, client = applied.brokers[combo], applied.clients[combo]
    for check in ({"hostname": "localhost"}, {"ip": "127.0.0.1"}, {"purpose": "sslserver"}):
        result = openssl_verify(broker.ca, broker.chain, **check)
        assert result.returncode == 0 and ": OK" in result.stdout, (check, result.stdout + result.stderr)
    wrong_host = openssl_verify(broker.ca, broker.chain, hostname="wronghost")
    assert wrong_host.returncode != 0 and "hostname mismatch" in wrong_host.stdout + wrong_host.stderr
    wrong_ip = openssl_verify(broker.ca, broker.chain, ip="127.0.0.2")
    assert wrong_ip.returncode != 0 and "IP address mismatch" in wrong_ip.stdout + wrong_ip.stderr

    ok = openssl_verify(client.ca, client.chain, purpose="sslclient")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    as_server = openssl_verify(client.ca, client.chain, purpose="sslserver")
    assert as_server.returncode != 0  # clients get clientAuth only
    # Each side trusts the other's chain: the broker's ca.pem verifies the client, and back.
    assert openssl_verify(broker.ca, client.chain, purpose="sslclient").returncode == 0
    assert openssl_verify(client.ca, broker.chain, hostname="localhost").returncode == 0


def test_openssl_mutual_tls_handshake(applied, strangers, combo):
    broker, client, stranger = applied.brokers[combo], applied.clients[combo], strangers[combo[0]]
    with openssl_server(broker.crt, broker.key, broker.ca, chain=broker.intermediates) as server:
        good = openssl_client(server.port, ca=client.ca, cert=client.crt, key=client.key,
                              chain=client.intermediates, hostname="localhost")
        assert good, good.output
        assert good.peer is not None and f"CN={client.name}" in good.peer.replace(" ", "")

        wrong_host = openssl_client(server.port, ca=client.ca, cert=client.crt, key=client.key,
                                    chain=client.intermediates, hostname="wronghost")
        assert not wrong_host and "hostname mismatch" in wrong_host.output

        # The stranger trusts our server (our ca.pem), so only the server's check can refuse it.
        refused = openssl_client(server.port, ca=client.ca, cert=stranger.crt, key=stranger.key,
                                 chain=stranger.intermediates, hostname="localhost")
        assert not refused, refused.output


@pytest.mark.parametrize("key", list(KEYS))
@pytest.mark.parametrize("label", ["p12-modern", "p12-legacy"])
def test_openssl_reads_pkcs12_stores_with_the_written_passwords(applied, label, key):
    for e in (applied.brokers[label, key], applied.clients[label, key]):
        for store in ("keystore", "truststore"):
            password = e.password(f"{store}.password")
            info = openssl_pkcs12_info(e.dir / f"{store}.p12", password)
            assert info.returncode == 0, info.stderr
            if label == "p12-modern":
                assert "MAC: sha256" in info.stderr and "PBES2, PBKDF2, AES-256-CBC" in info.stderr
            else:
                assert "MAC: sha1" in info.stderr and "pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr
                assert "PBES2" not in info.stderr
            if store == "keystore":
                assert "Shrouded Keybag" in info.stderr and info.stderr.count("Certificate bag") == 2
            else:
                assert "Shrouded Keybag" not in info.stderr and "Certificate bag" in info.stderr
            wrong = openssl_pkcs12_info(e.dir / f"{store}.p12", password + "x")
            assert wrong.returncode != 0 and "Mac verify error" in wrong.stderr


# --- keytool ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", list(KEYS))
@pytest.mark.parametrize("label", ["p12-modern", "p12-legacy", "jks"])
def test_keytool_lists_every_store_with_its_password_file(applied, label, key):
    fmt = FORMATS[label]["keystore"]
    for e in (applied.brokers[label, key], applied.clients[label, key]):
        keystore, truststore = e.dir / f"keystore.{STORE_EXT[fmt]}", e.dir / f"truststore.{STORE_EXT[fmt]}"
        assert keytool_entries(keystore, fmt, e.password("keystore.password")) == {e.name: "PrivateKeyEntry"}
        assert keytool_entries(truststore, fmt, e.password("truststore.password")) == {ROOT: "trustedCertEntry"}
        with pytest.raises(AssertionError, match="password was incorrect|keystore password"):
            keytool_list(truststore, fmt, e.password("truststore.password") + "x")


# --- Java, loading the stores as Kafka does -----------------------------------------------------

def test_java_mutual_tls_with_the_written_stores(applied, strangers, combo):
    broker, client, stranger = applied.brokers[combo], applied.clients[combo], strangers[combo[0]]
    broker_stores, client_stores = broker.stores(), client.stores()
    fmt = FORMATS[combo[0]]["keystore"]
    assert broker_stores.keystore_type == client_stores.keystore_type == fmt
    assert broker_stores.truststore.name == ("ca.pem" if fmt == "pem" else f"truststore.{STORE_EXT[fmt]}")
    assert (broker_stores.keystore_password is None) == (fmt == "pem") and broker_stores.key_password
    # The stranger's key, with our client's truststore: it trusts our server, so the handshake gets
    # as far as the server judging the stranger's certificate.
    hybrid = JavaStores(keystore=stranger.stores().keystore, keystore_type=fmt,
                        keystore_password=stranger.stores().keystore_password,
                        key_password=stranger.stores().key_password, truststore=client_stores.truststore,
                        truststore_type=client_stores.truststore_type,
                        truststore_password=client_stores.truststore_password)
    with java_server(broker_stores) as server:
        good = java_client(server.port, "localhost", client_stores)
        assert good, good.output
        assert good.peer == f"CN={broker.name}"
        server.wait_for(rf"HANDSHAKE OK peer=CN={re.escape(client.name)} protocol=", timeout=15)

        with ThreadPoolExecutor(3) as pool:
            by_ip, wrong_host, wrong_ip = pool.map(lambda host: java_client(server.port, host, client_stores),
                                                   ["127.0.0.1", "wronghost", "127.0.0.2"])
        assert by_ip, by_ip.output
        assert not wrong_host and "No subject alternative DNS name matching wronghost" in wrong_host.output
        assert not wrong_ip and "No subject alternative names matching IP address 127.0.0.2" in wrong_ip.output

        as_is = java_client(server.port, "localhost", stranger.stores())
        assert not as_is, as_is.output  # it trusts only its own root, which signed nothing of ours

        mark = server.mark()
        refused = java_client(server.port, "localhost", hybrid)
        assert not refused, refused.output
        failure = server.wait_for(r"HANDSHAKE FAILED .*", since=mark, timeout=15).group(0)
        assert "Empty client certificate chain" not in failure  # offered, and refused on its merits
        assert "PKIX" in failure or "certification path" in failure or "signature" in failure.lower(), failure


def test_openssl_refuses_a_truststore_of_an_intermediate_without_its_root_as_the_warning_says(tmp_path):
    """The warning's claim, shown with OpenSSL itself (what librdkafka and mongod verify with): a ca.pem
    holding only the intermediate verifies no peer; the control, with the root beside it, does."""
    spec = {"version": 1, "cas": {"root": {}, "issuing": {"issuer": "root", "path_length": 0}},
            "brokers": {"kafka": {"issuer": "issuing", "hostnames": ["kafka"]}},
            "clients": {"partial": {"issuer": "issuing", "brokers": ["kafka"], "trust": ["issuing"]},
                        "whole": {"issuer": "issuing", "brokers": ["kafka"], "trust": ["root", "issuing"]}}}
    (tmp_path / "tls.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = tlsgen("apply", "tls.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "clients.partial.trust[0]: trusts CA 'issuing' without its root 'root'" in result.stderr
    assert "clients.whole" not in result.stderr
    out = tmp_path / "out"
    partial = openssl_verify(out / "clients/partial/ca.pem", out / "brokers/kafka/chain.pem", hostname="kafka")
    whole = openssl_verify(out / "clients/whole/ca.pem", out / "brokers/kafka/chain.pem", hostname="kafka")
    assert partial.returncode != 0 and "unable to get issuer certificate" in partial.stdout + partial.stderr
    assert whole.returncode == 0, whole.stdout + whole.stderr
