"""pki.py and stores.py against their real consumers: OpenSSL, keytool and Java's JSSE loading stores as Kafka does.

One PKI per module: an RSA root, an EC P-384 issuing CA (so leaves are signed with SHA-384), and
per key type a broker (kafka, localhost, 127.0.0.1; serverAuth + clientAuth) and a client
(clientAuth); plus a stranger: a client of an unrelated root that copies our root's name, so that
Java clients offer its certificate (JSSE only offers certificates whose issuer the server names)
and only the server's signature check can refuse it.
Each check also proves it can fail: wrong host name, wrong IP, wrong CA, wrong password.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import need
from cryptography.hazmat.primitives import serialization

from interop.consumers import (
    KEYSTORE_FILES,
    TRUSTSTORE_FILES,
    JavaStores,
    java_client,
    java_default_client,
    java_list,
    java_server,
    keytool_entries,
    keytool_import_trusted,
    keytool_list,
    librdkafka_config_error,
    openssl_client,
    openssl_pkcs12_export_certs,
    openssl_pkcs12_info,
    openssl_server,
    openssl_verify,
    run,
)
from tlsgen.crypto import pki, stores

KEY_TYPES = ["ec-p256", "rsa-2048"]
# Store formats as the spec names them: keystore/truststore format plus, for pkcs12, the profile.
FORMATS = {"pkcs12-modern": ("pkcs12", "modern"), "pkcs12-legacy": ("pkcs12", "legacy"),
           "jks": ("jks", "modern"), "pem": ("pem", "modern")}
PASSWORD = "Zq7tW2mPx9LkR4vB8nJc3HsD6fGy1aUe"  # the shape of a generated password: 32 letters and digits
NOW = datetime.now(timezone.utc)


@dataclass
class Entity:
    name: str
    dir: Path
    key: object
    chain: list  # leaf, then intermediates
    trust: list  # (alias, certificate)
    stores: dict[str, JavaStores] = field(default_factory=dict)

    @property
    def crt(self) -> Path:
        return self.dir / f"{self.name}.crt"

    @property
    def key_file(self) -> Path:
        return self.dir / f"{self.name}.key"

    @property
    def chain_file(self) -> Path:
        return self.dir / "chain.pem"

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def intermediates_file(self) -> Path:
        return self.dir / "intermediates.pem"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _entity(base: Path, name: str, key, chain: list, trust: list) -> Entity:
    entity = Entity(name, base / name, key, chain, trust)
    entity.dir.mkdir(parents=True)
    _write(entity.crt, pki.cert_pem(chain[0]))
    _write(entity.key_file, pki.key_pem(key))
    _write(entity.chain_file, b"".join(pki.cert_pem(c) for c in chain))
    _write(entity.intermediates_file, b"".join(pki.cert_pem(c) for c in chain[1:]))
    _write(entity.ca_file, b"".join(pki.cert_pem(c) for _, c in trust))
    for label, (fmt, profile) in FORMATS.items():
        d = entity.dir / label
        d.mkdir()
        keystore = _write(d / KEYSTORE_FILES[fmt], stores.keystore_bytes(
            fmt, profile=profile, alias=name, key=key, chain=chain, password=PASSWORD))
        truststore = _write(d / TRUSTSTORE_FILES[fmt], stores.truststore_bytes(
            fmt, profile=profile, certs=trust, password=PASSWORD))
        entity.stores[label] = JavaStores(
            keystore=keystore, keystore_type=fmt, keystore_password=None if fmt == "pem" else PASSWORD,
            key_password=PASSWORD, truststore=truststore, truststore_type=fmt,
            truststore_password=None if fmt == "pem" else PASSWORD)
    return entity


@dataclass
class World:
    root: object
    brokers: dict[str, Entity]
    clients: dict[str, Entity]
    stranger: Entity  # a client of an unrelated CA
    impostor_file: Path  # that CA's certificate


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    base = tmp_path_factory.mktemp("pki")
    root_key, issuing_key, other_key = pki.generate_keys(["rsa-2048", "ec-p384", "ec-p256"])
    root = pki.issue_ca(subject=(("C", "GB"), ("O", "UK Home Office"), ("CN", "Callisto Localhost")), key=root_key,
                        path_length=None, validity=timedelta(days=3650), now=NOW)
    issuing = pki.issue_ca(subject=(("C", "GB"), ("O", "UK Home Office"), ("CN", "callisto-issuing")),
                           key=issuing_key, issuer_cert=root, issuer_key=root_key, path_length=0,
                           validity=timedelta(days=1825), now=NOW)
    impostor = pki.issue_ca(subject=(("C", "GB"), ("O", "UK Home Office"), ("CN", "Callisto Localhost")),
                            key=other_key, path_length=None, validity=timedelta(days=365), now=NOW)
    trust = [("callisto-root", root)]
    brokers, clients = {}, {}
    for key_type in KEY_TYPES:
        broker_key, client_key = pki.generate_keys([key_type, key_type])
        broker = pki.issue_leaf(subject=(("O", "UK Home Office"), ("CN", "kafka")), public_key=broker_key.public_key(),
                                issuer_cert=issuing, issuer_key=issuing_key, hostnames=["kafka", "localhost"],
                                ip_addresses=["127.0.0.1"], usages=("serverAuth", "clientAuth"),
                                validity=timedelta(days=365), now=NOW)
        client = pki.issue_leaf(subject=(("O", "UK Home Office"), ("CN", "kafka-tester")),
                                public_key=client_key.public_key(), issuer_cert=issuing, issuer_key=issuing_key,
                                hostnames=[], ip_addresses=[], usages=("clientAuth",), validity=timedelta(days=365),
                                now=NOW)
        brokers[key_type] = _entity(base / key_type, "kafka", broker_key, [broker, issuing], trust)
        clients[key_type] = _entity(base / key_type, "kafka-tester", client_key, [client, issuing], trust)
    stranger_key = pki.generate_key("ec-p256")
    stranger = pki.issue_leaf(subject=(("CN", "kafka-tester"),), public_key=stranger_key.public_key(), issuer_cert=impostor,
                              issuer_key=other_key, hostnames=[], ip_addresses=[], usages=("clientAuth",),
                              validity=timedelta(days=30), now=NOW)
    # The stranger trusts our root, so only the server's refusal of its certificate can fail the handshake.
    return World(root, brokers, clients, _entity(base, "stranger", stranger_key, [stranger], trust),
                 _write(base / "impostor.pem", pki.cert_pem(impostor)))


@pytest.fixture(params=KEY_TYPES)
def key_type(request) -> str:
    return request.param


# --- OpenSSL ----------------------------------------------------------------------------------

def test_openssl_verifies_the_broker_chain_with_host_name_and_ip(world, key_type):
    broker = world.brokers[key_type]
    for check in ({"hostname": "localhost"}, {"hostname": "kafka"}, {"ip": "127.0.0.1"}, {"purpose": "sslserver"},
                  {"purpose": "sslclient"}):
        result = openssl_verify(broker.ca_file, broker.chain_file, **check)
        assert result.returncode == 0, (check, result.stdout + result.stderr)
        assert ": OK" in result.stdout

    wrong_host = openssl_verify(broker.ca_file, broker.chain_file, hostname="kafka.example.com")
    assert wrong_host.returncode != 0 and "hostname mismatch" in wrong_host.stdout + wrong_host.stderr
    wrong_ip = openssl_verify(broker.ca_file, broker.chain_file, ip="10.0.0.1")
    assert wrong_ip.returncode != 0 and "IP address mismatch" in wrong_ip.stdout + wrong_ip.stderr
    wrong_ca = openssl_verify(world.impostor_file, broker.chain_file)
    assert wrong_ca.returncode != 0
    stranger = openssl_verify(broker.ca_file, world.stranger.chain_file)
    assert stranger.returncode != 0


def test_openssl_verifies_a_client_certificate_for_client_use_only(world, key_type):
    client = world.clients[key_type]
    assert openssl_verify(client.ca_file, client.chain_file, purpose="sslclient").returncode == 0
    as_server = openssl_verify(client.ca_file, client.chain_file, purpose="sslserver")
    assert as_server.returncode != 0 and "unsuitable certificate purpose" in as_server.stdout + as_server.stderr


def test_openssl_mutual_tls_handshake(world, key_type):
    broker, client = world.brokers[key_type], world.clients[key_type]
    with openssl_server(broker.crt, broker.key_file, broker.ca_file, chain=broker.intermediates_file) as server:
        good = openssl_client(server.port, ca=client.ca_file, cert=client.crt, key=client.key_file,
                              chain=client.intermediates_file, hostname="localhost")
        assert good, good.output
        assert good.peer is not None and "CN=kafka-tester" in good.peer

        by_ip = openssl_client(server.port, ca=client.ca_file, cert=client.crt, key=client.key_file,
                               chain=client.intermediates_file, ip="127.0.0.1")
        assert by_ip, by_ip.output

        wrong_host = openssl_client(server.port, ca=client.ca_file, cert=client.crt, key=client.key_file,
                                    chain=client.intermediates_file, hostname="kafka.example.com")
        assert not wrong_host and "hostname mismatch" in wrong_host.output

        stranger = world.stranger
        refused = openssl_client(server.port, ca=stranger.ca_file, cert=stranger.crt, key=stranger.key_file,
                                 hostname="localhost")
        assert not refused, refused.output

        anonymous = openssl_client(server.port, ca=client.ca_file, hostname="localhost")
        assert not anonymous, anonymous.output


@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_openssl_reads_pkcs12_stores_of_both_profiles(world, key_type, profile):
    broker = world.brokers[key_type]
    store_dir = broker.dir / f"pkcs12-{profile}"
    for path in (store_dir / "keystore.p12", store_dir / "truststore.p12"):
        info = openssl_pkcs12_info(path, PASSWORD)
        assert info.returncode == 0, info.stderr
        if profile == "modern":
            assert "MAC: sha256" in info.stderr and "PBES2, PBKDF2, AES-256-CBC" in info.stderr
        else:
            assert "MAC: sha1" in info.stderr and "pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr
            # 3DES and the SHA-1 MAC live in OpenSSL 3's default provider: -legacy is not needed
            # (only RC2/RC4, which tlsgen never writes, are), but works too.
            assert "RC2" not in info.stderr
            legacy = openssl_pkcs12_info(path, PASSWORD, legacy=True)
            assert legacy.returncode == 0, legacy.stderr
        wrong = openssl_pkcs12_info(path, PASSWORD + "x")
        assert wrong.returncode != 0 and "Mac verify error" in wrong.stderr
    key_info = openssl_pkcs12_info(store_dir / "keystore.p12", PASSWORD).stderr
    assert "Shrouded Keybag" in key_info and key_info.count("Certificate bag") == 2


# --- librdkafka ------------------------------------------------------------------------------

def test_librdkafka_loads_the_encrypted_pem_key_and_pkcs12_keystores(world, key_type):
    client = world.clients[key_type]
    pem = {"ssl.key.location": str(client.stores["pem"].keystore), "ssl.certificate.location": str(client.chain_file),
           "ssl.ca.location": str(client.ca_file)}
    assert librdkafka_config_error({**pem, "ssl.key.password": PASSWORD}) is None
    assert "ssl.key.location failed" in librdkafka_config_error({**pem, "ssl.key.password": PASSWORD + "x"})
    for label in ("pkcs12-modern", "pkcs12-legacy"):
        keystore = {"ssl.keystore.location": str(client.stores[label].keystore), "ssl.ca.location": str(client.ca_file)}
        assert librdkafka_config_error({**keystore, "ssl.keystore.password": PASSWORD}) is None, label
        assert librdkafka_config_error({**keystore, "ssl.keystore.password": PASSWORD + "x"}) is not None


# --- keytool ----------------------------------------------------------------------------------

@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-legacy", "jks"])
def test_keytool_lists_every_store_with_its_password(world, key_type, label):
    java = world.brokers[key_type].stores[label]
    fmt = FORMATS[label][0]
    assert keytool_entries(java.keystore, fmt, PASSWORD) == {"kafka": "PrivateKeyEntry"}
    assert keytool_entries(java.truststore, fmt, PASSWORD) == {"callisto-root": "trustedCertEntry"}
    with pytest.raises(AssertionError, match="password was incorrect|keystore password"):
        keytool_list(java.truststore, fmt, PASSWORD + "x")


def test_stores_judge_java_trust_in_pkcs12_truststores_made_by_other_tools(world, tmp_path):
    """keytool marks certificates trusted; `openssl pkcs12 -export -nokeys` does not, and Java then sees nothing."""
    ca_file = world.brokers["ec-p256"].ca_file
    by_keytool = keytool_import_trusted(tmp_path / "keytool.p12", "pkcs12", PASSWORD, "callisto-root", ca_file)
    by_openssl = openssl_pkcs12_export_certs(tmp_path / "openssl.p12", ca_file, PASSWORD)

    trusted = stores.read_truststore("pkcs12", by_keytool.read_bytes(), PASSWORD)
    assert trusted == stores.expected_truststore([("callisto-root", world.root)])
    assert java_list(JavaStores(truststore=by_keytool, truststore_password=PASSWORD), truststore=True) == {
        "callisto-root": "trustedCertEntry"}

    untrusted = stores.read_truststore("pkcs12", by_openssl.read_bytes(), PASSWORD)
    assert [e.kind for e in untrusted.entries] == ["untrusted"]
    assert untrusted.entries[0].certs == (pki.cert_fingerprint(world.root),)
    assert java_list(JavaStores(truststore=by_openssl, truststore_password=PASSWORD), truststore=True) == {}


# --- Java, loading stores as Kafka does -------------------------------------------------------

@pytest.mark.parametrize("label", list(FORMATS))
def test_java_loads_keystore_and_multi_entry_truststore_as_kafka_does(world, tmp_path, label):
    client = world.clients["ec-p256"]
    fmt, profile = FORMATS[label]
    trust = [("callisto-root", world.root), ("other", world.stranger.chain[0])]
    truststore = _write(tmp_path / TRUSTSTORE_FILES[fmt],
                        stores.truststore_bytes(fmt, profile=profile, certs=trust, password=PASSWORD))
    java = client.stores[label]
    keystore_entries = java_list(java)
    truststore_entries = java_list(JavaStores(truststore=truststore, truststore_type=fmt,
                                              truststore_password=None if fmt == "pem" else PASSWORD), truststore=True)
    if fmt == "pem":  # Kafka's PemStore names the entries itself
        assert keystore_entries == {"kafka": "PrivateKeyEntry"}
        assert truststore_entries == {"kafka0": "trustedCertEntry", "kafka1": "trustedCertEntry"}
    else:
        assert keystore_entries == {"kafka-tester": "PrivateKeyEntry"}
        assert truststore_entries == {"callisto-root": "trustedCertEntry", "other": "trustedCertEntry"}


def test_kafka_pem_loader_cannot_decrypt_pbes2_keys_on_this_jvm(world, tmp_path):
    """Why pki.encrypted_key_pem does not use BestAvailableEncryption (PBES2 with AES)."""
    client = world.clients["ec-p256"]
    pbes2 = client.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(PASSWORD.encode()))
    keystore = _write(tmp_path / "keystore.pem", pbes2 + client.chain_file.read_bytes())
    try:
        entries = java_list(JavaStores(keystore=keystore, keystore_type="pem", key_password=PASSWORD))
    except AssertionError as failure:
        assert "PBES2 SecretKeyFactory not available" in str(failure)
    else:
        assert entries == {"kafka": "PrivateKeyEntry"}
        pytest.skip("this JVM decrypts PBES2 in Kafka's PEM loader (Java 17 does not); 3DES is kept for older ones")


def test_java_refuses_a_pem_keystore_with_the_wrong_key_password(world):
    java = world.clients["rsa-2048"].stores["pem"]
    # Either the padding check fails or (1 time in ~256) the garbage that passes it is no PKCS#8 key.
    with pytest.raises(AssertionError, match="FAILED (BadPaddingException|InvalidKeySpecException)"):
        java_list(JavaStores(keystore=java.keystore, keystore_type="pem", key_password=PASSWORD + "x"))


@pytest.mark.parametrize("label", list(FORMATS))
def test_java_mutual_tls_with_kafka_settings(world, key_type, label):
    broker, client, stranger = world.brokers[key_type], world.clients[key_type], world.stranger
    with java_server(broker.stores[label]) as server:
        mark = server.mark()
        good = java_client(server.port, "kafka", client.stores[label])
        assert good, good.output
        assert good.peer == "CN=kafka,O=UK Home Office"
        server.wait_for(r"HANDSHAKE OK peer=CN=kafka-tester,O=UK Home Office", since=mark)

        wrong_host = java_client(server.port, "kafka.example.com", client.stores[label])
        assert not wrong_host
        assert "No subject alternative DNS name matching kafka.example.com" in wrong_host.output

        mark = server.mark()
        refused = java_client(server.port, "localhost", stranger.stores[label])
        assert not refused, refused.output
        failure = server.wait_for(r"HANDSHAKE FAILED .*", since=mark).group(0)
        assert "Empty client certificate chain" not in failure  # it was offered, and refused on its merits
        assert "PKIX" in failure or "certification path" in failure or "signature" in failure.lower(), failure


def test_java_tls12_handshake_for_each_key_type(world, key_type):
    broker, client = world.brokers[key_type], world.clients[key_type]
    with java_server(broker.stores["pkcs12-modern"]) as server:
        result = java_client(server.port, "127.0.0.1", client.stores["pkcs12-modern"], protocol="TLSv1.2")
        assert result, result.output
        assert "protocol=TLSv1.2" in result.output


@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-legacy", "jks"])
def test_jvm_default_sslcontext_from_system_properties(world, label):
    """A connector in Kafka Connect (MongoDB's) gets only -Djavax.net.ssl.* from KAFKA_OPTS."""
    broker, client = world.brokers["rsa-2048"], world.clients["rsa-2048"]
    with openssl_server(broker.crt, broker.key_file, broker.ca_file, chain=broker.intermediates_file) as server:
        good = java_default_client(server.port, "localhost", client.stores[label])
        assert good, good.output
        wrong_host = java_default_client(server.port, "mongodb", client.stores[label])
        assert not wrong_host and "No subject alternative DNS name matching mongodb" in wrong_host.output


# --- fewer PBKDF iterations where tlsgen generated the password -------------------------------
#
# pki.GENERATED_PASSWORD_ITERATIONS (1000) for stores and PEM keys whose password tlsgen made;
# 1 is tested too, to show that the floor comes from FIPS (below), not from these consumers. Their
# modern PKCS12 stores take pki.GENERATED_PASSWORD_MAC_ITERATIONS (1) for the MAC, written by
# pfx.py; legacy ones keep cryptography's 2048.

REDUCED = [pki.GENERATED_PASSWORD_ITERATIONS, 1]


@pytest.fixture(scope="module")
def reduced(world, tmp_path_factory) -> dict[tuple[str, int], tuple[Entity, Entity]]:
    """(label, iterations) → (broker, client) whose stores were written with that many iterations."""
    made = {}
    for iterations in REDUCED:
        for label in ("pkcs12-modern", "pkcs12-legacy", "pem"):
            fmt, profile = FORMATS[label]
            pair = []
            for template in (world.brokers["ec-p256"], world.clients["ec-p256"]):
                d = tmp_path_factory.mktemp(f"{label}-{iterations}-{template.name}")
                fewer = dict(iterations=iterations, mac_iterations=pki.GENERATED_PASSWORD_MAC_ITERATIONS)
                ks = _write(d / KEYSTORE_FILES[fmt], stores.keystore_bytes(
                    fmt, profile=profile, alias=template.name, key=template.key, chain=template.chain,
                    password=PASSWORD, **fewer))
                ts = _write(d / TRUSTSTORE_FILES[fmt], stores.truststore_bytes(
                    fmt, profile=profile, certs=template.trust, password=PASSWORD, **fewer))
                java = JavaStores(keystore=ks, keystore_type=fmt, keystore_password=None if fmt == "pem" else PASSWORD,
                                  key_password=PASSWORD, truststore=ts, truststore_type=fmt,
                                  truststore_password=None if fmt == "pem" else PASSWORD)
                pair.append(Entity(template.name, d, template.key, template.chain, template.trust, {label: java}))
            made[label, iterations] = tuple(pair)
    return made


@pytest.mark.parametrize("iterations", REDUCED)
@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-legacy"])
def test_openssl_and_keytool_read_pkcs12_stores_with_fewer_iterations(reduced, label, iterations):
    broker, _ = reduced[label, iterations]
    java = broker.stores[label]
    for path in (java.keystore, java.truststore):
        info = openssl_pkcs12_info(path, PASSWORD)
        assert info.returncode == 0, info.stderr
        encrypted = [line for line in info.stderr.splitlines() if "Encrypted data" in line or "Shrouded Keybag" in line]
        assert encrypted and all(line.endswith(f"Iteration {iterations}") or f"Iteration {iterations}," in line
                                 for line in encrypted), info.stderr
        mac = "MAC: sha256, Iteration 1\n" if label == "pkcs12-modern" else "MAC: sha1, Iteration 2048\n"
        assert mac in info.stderr, info.stderr
        wrong = openssl_pkcs12_info(path, PASSWORD + "x")  # the MAC is checked, at one iteration too
        assert wrong.returncode != 0 and "Mac verify error" in wrong.stderr
    assert keytool_entries(java.keystore, "pkcs12", PASSWORD) == {"kafka": "PrivateKeyEntry"}
    assert keytool_entries(java.truststore, "pkcs12", PASSWORD) == {"callisto-root": "trustedCertEntry"}
    with pytest.raises(AssertionError, match="password was incorrect|keystore password"):
        keytool_list(java.keystore, "pkcs12", PASSWORD + "x")


@pytest.mark.parametrize("iterations", REDUCED)
@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-legacy", "pem"])
def test_java_loads_stores_with_fewer_iterations_as_kafka_does(reduced, label, iterations):
    broker, _ = reduced[label, iterations]
    java = broker.stores[label]
    alias = "kafka" if label == "pem" else broker.name  # Kafka's PemStore names the key "kafka"
    assert java_list(java) == {alias: "PrivateKeyEntry"}
    truststore = java_list(java, truststore=True)
    assert truststore == ({"kafka0": "trustedCertEntry"} if label == "pem" else {"callisto-root": "trustedCertEntry"})


@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-legacy", "pem"])
def test_java_mutual_tls_with_fewer_iterations(reduced, label):
    broker, client = reduced[label, pki.GENERATED_PASSWORD_ITERATIONS]
    with java_server(broker.stores[label]) as server:
        mark = server.mark()
        good = java_client(server.port, "kafka", client.stores[label])
        assert good, good.output
        server.wait_for(r"HANDSHAKE OK peer=CN=kafka-tester,O=UK Home Office", since=mark)
        wrong_host = java_client(server.port, "kafka.example.com", client.stores[label])
        assert not wrong_host


def test_librdkafka_and_openssl_read_keys_with_fewer_iterations(world, reduced, tmp_path):
    _, client = reduced["pem", pki.GENERATED_PASSWORD_ITERATIONS]
    pem_key = client.stores["pem"].keystore
    config = {"ssl.key.location": str(pem_key), "ssl.certificate.location": str(world.clients["ec-p256"].chain_file),
              "ssl.ca.location": str(world.clients["ec-p256"].ca_file)}
    assert librdkafka_config_error({**config, "ssl.key.password": PASSWORD}) is None
    assert "ssl.key.location failed" in librdkafka_config_error({**config, "ssl.key.password": PASSWORD + "x"})
    for label in ("pkcs12-modern", "pkcs12-legacy"):
        _, client = reduced[label, pki.GENERATED_PASSWORD_ITERATIONS]
        keystore = {"ssl.keystore.location": str(client.stores[label].keystore),
                    "ssl.ca.location": str(world.clients["ec-p256"].ca_file)}
        assert librdkafka_config_error({**keystore, "ssl.keystore.password": PASSWORD}) is None, label


@pytest.mark.parametrize("iterations", [pki.PBE_ITERATIONS, pki.GENERATED_PASSWORD_ITERATIONS])
def test_openssl_pkey_decrypts_the_pem_keystore_key(world, tmp_path, iterations):
    key = world.clients["rsa-2048"].key
    path = _write(tmp_path / "key.pem", pki.encrypted_key_pem(key, PASSWORD, iterations=iterations))
    openssl = need("openssl")
    shown = run([openssl, "pkey", "-in", path, "-passin", "env:TLSGEN_TEST_PASSWORD", "-pubout"],
                env={"TLSGEN_TEST_PASSWORD": PASSWORD})
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.encode() == key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    wrong = run([openssl, "pkey", "-in", path, "-passin", "env:TLSGEN_TEST_PASSWORD", "-noout"],
                env={"TLSGEN_TEST_PASSWORD": PASSWORD + "x"})
    assert wrong.returncode != 0


def test_negative_control_java_refuses_more_iterations_than_its_limit(world, tmp_path):
    """Java's PKCS12 loader does check iteration counts: beyond 5,000,000 it refuses the store."""
    from tlsgen.crypto import pfx

    trust = [("callisto-root", world.root)]
    too_many = _write(tmp_path / "too-many.p12", stores.truststore_bytes(
        "pkcs12", certs=trust, password=PASSWORD, iterations=pfx.MAX_ITERATIONS + 1))
    with pytest.raises(AssertionError, match="iteration count too large"):
        java_list(JavaStores(truststore=too_many, truststore_password=PASSWORD), truststore=True)
    at_limit = _write(tmp_path / "fine.p12", stores.truststore_bytes(
        "pkcs12", certs=trust, password=PASSWORD, iterations=pki.GENERATED_PASSWORD_ITERATIONS))
    assert java_list(JavaStores(truststore=at_limit, truststore_password=PASSWORD), truststore=True) == {
        "callisto-root": "trustedCertEntry"}


def test_openssl_fips_bounds_for_pbkdf2_are_met_at_1000_iterations(world):
    """Why not 1 iteration: OpenSSL's FIPS provider runs PBKDF2 with SP 800-132's checks on
    (EVP_KDF-PBKDF2(7): pkcs5=0), refusing fewer than 1000 iterations or a salt under 16 bytes.
    The same checks are switched on here in the default provider."""
    openssl = need("openssl")

    def pbkdf2(iterations: int, salt: bytes) -> subprocess.CompletedProcess:
        return run([openssl, "kdf", "-keylen", "32", "-kdfopt", "digest:SHA256", "-kdfopt", "pass:password",
                    "-kdfopt", f"hexsalt:{salt.hex()}", "-kdfopt", f"iter:{iterations}", "-kdfopt", "pkcs5:0",
                    "PBKDF2"])

    data = stores.truststore_bytes("pkcs12", certs=[("callisto-root", world.root)], password=PASSWORD,
                                   iterations=pki.GENERATED_PASSWORD_ITERATIONS)
    salt = _pbkdf2_salt(data)
    assert len(salt) >= 16
    assert pbkdf2(pki.GENERATED_PASSWORD_ITERATIONS, salt).returncode == 0
    refused = pbkdf2(pki.GENERATED_PASSWORD_ITERATIONS - 1, salt)
    assert refused.returncode != 0 and "invalid iteration count" in refused.stderr
    assert pbkdf2(pki.GENERATED_PASSWORD_ITERATIONS, salt[:8]).returncode != 0  # and a short salt


def _pbkdf2_salt(data: bytes) -> bytes:
    """The PBKDF2 salt of a modern PKCS12 truststore's encrypted certificates."""
    from tlsgen.crypto import asn1, pfx

    (info,) = [i for _, i in asn1.items(asn1.inner(pfx.auth_safe_of(data)))]
    content_info = asn1.fields(asn1.inner(asn1.fields(info)[1][1]))[1][1]
    params = asn1.fields(asn1.fields(content_info)[1][1])[1][1]  # PBES2-params
    kdf_params = asn1.fields(asn1.fields(params)[0][1])[1][1]  # PBKDF2-params
    return asn1.fields(kdf_params)[0][1]
