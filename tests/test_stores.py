"""stores.py: every format written and read back by content; equal content across writes; wrong passwords."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jks
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from tlsgen.crypto import asn1, pfx, pki, stores
from tlsgen.crypto.stores import StoreContent, StoreEntry, StoreError

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
PASSWORD = "Zq7tW2mPx9LkR4vB8nJc3HsD6fGy1aUe"
KEYSTORE_FORMATS = {"pkcs12-modern": ("pkcs12", "modern"), "pkcs12-generated": ("pkcs12", "modern"),
                    "pkcs12-legacy": ("pkcs12", "legacy"), "jks": ("jks", "modern")}
# "pkcs12-generated": a modern store as apply writes it for a password tlsgen generated (fewer
# iterations, a MAC cryptography cannot write: pfx.py writes it); the others at the defaults.
OPTIONS = {"pkcs12-generated": {"iterations": pki.GENERATED_PASSWORD_ITERATIONS,
                                "mac_iterations": pki.GENERATED_PASSWORD_MAC_ITERATIONS}}
# OIDs as they appear in DER, to see which algorithms a PKCS12 file uses.
PBES2 = bytes.fromhex("2a864886f70d01050d")
AES_256_CBC = bytes.fromhex("60864801650304012a")
HMAC_SHA256 = bytes.fromhex("2a864886f70d0209")
SHA256 = bytes.fromhex("608648016503040201")
PBE_SHA1_3DES = bytes.fromhex("2a864886f70d010c0103")
PBE_SHA1_RC2_40 = bytes.fromhex("2a864886f70d010c0106")
JAVA_TRUSTED = bytes.fromhex("6086480186f966adca7b0101")  # 2.16.840.1.113894.746875.1.1


class PKI:
    def __init__(self):
        self.root_key, self.issuing_key = pki.generate_key("ec-p256"), pki.generate_key("ec-p256")
        self.root = pki.issue_ca(subject=(("CN", "root"),), key=self.root_key, path_length=None,
                                 validity=timedelta(days=100), now=NOW)
        self.issuing = pki.issue_ca(subject=(("CN", "issuing"),), key=self.issuing_key, issuer_cert=self.root,
                                    issuer_key=self.root_key, path_length=0, validity=timedelta(days=50), now=NOW)
        self.other_root = pki.issue_ca(subject=(("CN", "other"),), key=pki.generate_key("ec-p256"),
                                       path_length=None, validity=timedelta(days=100), now=NOW)
        self.keys = dict(zip(("rsa", "ec"), pki.generate_keys(["rsa-2048", "ec-p256"])))
        self.chains = {name: [self.leaf(key), self.issuing] for name, key in self.keys.items()}

    def leaf(self, key):
        return pki.issue_leaf(subject=(("CN", "kafka"),), public_key=key.public_key(), issuer_cert=self.issuing,
                              issuer_key=self.issuing_key, hostnames=["kafka"], ip_addresses=[],
                              usages=("serverAuth", "clientAuth"), validity=timedelta(days=10), now=NOW)


@pytest.fixture(scope="module")
def world() -> PKI:
    return PKI()


@pytest.fixture(params=["rsa", "ec"])
def kt(request) -> str:
    return request.param


def keystore(world, label, kt, *, alias="kafka", password=PASSWORD) -> bytes:
    fmt, profile = KEYSTORE_FORMATS[label]
    return stores.keystore_bytes(fmt, profile=profile, alias=alias, key=world.keys[kt], chain=world.chains[kt],
                                 password=password, **OPTIONS.get(label, {}))


def truststore(world, label, certs, *, password=PASSWORD) -> bytes:
    fmt, profile = KEYSTORE_FORMATS[label]
    return stores.truststore_bytes(fmt, profile=profile, certs=certs, password=password, **OPTIONS.get(label, {}))


# --- keystores --------------------------------------------------------------------------------

@pytest.mark.parametrize("label", list(KEYSTORE_FORMATS))
def test_keystore_round_trip(world, kt, label):
    fmt = KEYSTORE_FORMATS[label][0]
    content = stores.read_keystore(fmt, keystore(world, label, kt), PASSWORD)
    expected = stores.expected_keystore("kafka", world.keys[kt], world.chains[kt])
    assert content == expected
    (entry,) = content.entries
    assert entry == StoreEntry("kafka", "key", pki.spki_fingerprint(world.keys[kt]),
                               tuple(pki.cert_fingerprint(c) for c in world.chains[kt]))
    assert expected.differences(content) == []


@pytest.mark.parametrize("label", list(KEYSTORE_FORMATS))
def test_two_writes_differ_in_bytes_but_not_in_content(world, kt, label):
    fmt = KEYSTORE_FORMATS[label][0]
    first, second = keystore(world, label, kt), keystore(world, label, kt)
    assert first != second  # fresh salts (and JKS timestamps) every time
    assert stores.read_keystore(fmt, first, PASSWORD) == stores.read_keystore(fmt, second, PASSWORD)


@pytest.mark.parametrize("label", list(KEYSTORE_FORMATS))
def test_wrong_password_is_a_store_error(world, label):
    fmt = KEYSTORE_FORMATS[label][0]
    for data, read in ((keystore(world, label, "ec"), stores.read_keystore),
                       (truststore(world, label, [("root", world.root)]), stores.read_truststore)):
        with pytest.raises(StoreError, match="password") as caught:
            read(fmt, data, PASSWORD + "x")
        assert PASSWORD not in str(caught.value)
        assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("fmt", ["pkcs12", "jks"])
def test_garbage_is_a_store_error(fmt):
    with pytest.raises(StoreError):
        stores.read_keystore(fmt, b"not a store at all", PASSWORD)


def test_reading_without_a_password_is_a_store_error(world):
    with pytest.raises(StoreError, match="password"):
        stores.read_keystore("pkcs12", keystore(world, "pkcs12-modern", "ec"), "")


def test_pkcs12_modern_uses_aes_pbkdf2_and_sha256_mac(world):
    data = keystore(world, "pkcs12-modern", "rsa")
    assert PBES2 in data and AES_256_CBC in data and HMAC_SHA256 in data and SHA256 in data
    assert PBE_SHA1_3DES not in data and PBE_SHA1_RC2_40 not in data


def test_pkcs12_legacy_uses_3des_and_never_rc2(world):
    for data in (keystore(world, "pkcs12-legacy", "rsa"), truststore(world, "pkcs12-legacy", [("root", world.root)])):
        assert PBE_SHA1_3DES in data
        assert PBES2 not in data and PBE_SHA1_RC2_40 not in data


def test_pkcs12_keystore_holds_alias_as_friendly_name_and_chain_leaf_first(world):
    loaded = pkcs12.load_pkcs12(keystore(world, "pkcs12-modern", "ec", alias="kafka-tester"), PASSWORD.encode())
    assert loaded.cert.friendly_name == b"kafka-tester"
    assert [c.certificate for c in [loaded.cert, *loaded.additional_certs]] == world.chains["ec"]
    # Java reads the key with the store password: the key bag opens with it too.
    assert pki.spki_fingerprint(loaded.key) == pki.spki_fingerprint(world.keys["ec"])


def test_jks_key_entry_is_encrypted_with_the_store_password(world):
    store = jks.KeyStore.loads(keystore(world, "jks", "rsa"), PASSWORD, try_decrypt_keys=False)
    entry = store.private_keys["kafka"]
    assert not entry.is_decrypted()
    entry.decrypt(PASSWORD)  # Kafka's ssl.key.password is the same value
    assert [der for _, der in entry.cert_chain] == [c.public_bytes(serialization.Encoding.DER)
                                                    for c in world.chains["rsa"]]


def test_jks_key_under_another_password_is_a_store_error(world):
    key = world.keys["ec"]
    entry = jks.PrivateKeyEntry.new("kafka", [c.public_bytes(serialization.Encoding.DER) for c in world.chains["ec"]],
                                    key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    entry.encrypt("another password")
    data = jks.KeyStore.new("jks", [entry]).saves(PASSWORD)
    with pytest.raises(StoreError, match="does not open with the store password"):
        stores.read_keystore("jks", data, PASSWORD)


def test_content_tells_a_different_key_or_chain_apart(world):
    content = stores.read_keystore("pkcs12", keystore(world, "pkcs12-modern", "ec"), PASSWORD)
    other_key = stores.expected_keystore("kafka", world.keys["rsa"], world.chains["ec"])
    assert content != other_key
    assert other_key.differences(content) == ["entry 'kafka' holds a different private key"]
    other_chain = stores.expected_keystore("kafka", world.keys["ec"], world.chains["ec"][:1])
    assert other_chain.differences(content) == ["entry 'kafka' holds a different certificate chain"]
    other_alias = stores.expected_keystore("broker", world.keys["ec"], world.chains["ec"])
    assert other_alias.differences(content) == ["no entry 'broker'", "unexpected entry 'kafka'"]


@pytest.mark.parametrize("bad", [{"fmt": "p12"}, {"profile": "strong"}])
def test_unknown_format_or_profile_is_refused(world, bad):
    args = {"fmt": "pkcs12", "profile": "modern", **bad}
    with pytest.raises(ValueError, match="unknown"):
        stores.keystore_bytes(args["fmt"], profile=args["profile"], alias="a", key=world.keys["ec"],
                              chain=world.chains["ec"], password=PASSWORD)


def test_a_keystore_needs_a_certificate(world):
    with pytest.raises(ValueError, match="leaf"):
        stores.keystore_bytes("pkcs12", alias="a", key=world.keys["ec"], chain=[], password=PASSWORD)


# --- PEM keystores (Kafka's ssl.keystore.type=PEM) --------------------------------------------

def test_pem_keystore_is_encrypted_key_then_chain(world, kt):
    data = stores.pem_keystore_bytes(world.keys[kt], world.chains[kt], PASSWORD)
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert b"-----BEGIN PRIVATE KEY-----" not in data
    assert pki.load_certs(data) == world.chains[kt]
    assert data == data.replace(b"\r", b"") and data.endswith(b"-----END CERTIFICATE-----\n")
    assert stores.keystore_bytes("pem", alias="ignored", key=world.keys[kt], chain=world.chains[kt],
                                 password=PASSWORD).startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_pem_keystore_reads_back_under_kafkas_alias(world, kt):
    data = stores.pem_keystore_bytes(world.keys[kt], world.chains[kt], PASSWORD)
    assert stores.read_keystore("pem", data, PASSWORD) == stores.expected_keystore(
        stores.PEM_KEY_ALIAS, world.keys[kt], world.chains[kt])
    assert stores.pem_keystore_holds(data, PASSWORD, world.keys[kt], world.chains[kt])
    assert stores.pem_keystore_holds(stores.pem_keystore_bytes(world.keys[kt], world.chains[kt], PASSWORD),
                                     PASSWORD, world.keys[kt], world.chains[kt])


def test_pem_keystore_holds_is_false_for_wrong_password_key_or_chain(world):
    key, chain = world.keys["ec"], world.chains["ec"]
    data = stores.pem_keystore_bytes(key, chain, PASSWORD)
    assert not stores.pem_keystore_holds(data, PASSWORD + "x", key, chain)
    assert not stores.pem_keystore_holds(data, PASSWORD, world.keys["rsa"], chain)
    assert not stores.pem_keystore_holds(data, PASSWORD, key, chain[:1])
    with pytest.raises(StoreError, match="password"):
        stores.read_keystore("pem", data, PASSWORD + "x")
    unencrypted = pki.key_pem(key) + b"".join(pki.cert_pem(c) for c in chain)
    assert not stores.pem_keystore_holds(unencrypted, PASSWORD, key, chain)  # Kafka would fail to decrypt it


# --- truststores ------------------------------------------------------------------------------

@pytest.mark.parametrize("label", list(KEYSTORE_FORMATS))
def test_truststore_round_trip_every_entry_trusted(world, label):
    fmt = KEYSTORE_FORMATS[label][0]
    certs = [("root", world.root), ("issuing", world.issuing), ("other", world.other_root)]
    content = stores.read_truststore(fmt, truststore(world, label, certs), PASSWORD)
    assert content == stores.expected_truststore(certs)
    assert {e.alias: e.kind for e in content.entries} == {"root": "trusted", "issuing": "trusted", "other": "trusted"}
    assert all(e.key is None and len(e.certs) == 1 for e in content.entries)
    again = stores.read_truststore(fmt, truststore(world, label, certs), PASSWORD)
    assert again == content


def test_expected_content_does_not_depend_on_order(world):
    assert stores.expected_truststore([("b", world.root), ("a", world.issuing)]) == \
        stores.expected_truststore([("a", world.issuing), ("b", world.root)])


@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-generated", "pkcs12-legacy"])
def test_pkcs12_truststore_carries_javas_trusted_attribute(world, label):
    data = truststore(world, label, [("root", world.root)])
    assert JAVA_TRUSTED not in data  # the bags are encrypted: the attribute is only seen by decrypting
    assert stores.read_truststore("pkcs12", data, PASSWORD).entries[0].kind == "trusted"


@pytest.mark.parametrize("algorithm,mac", [(pkcs12.PBES.PBESv2SHA256AndAES256CBC, hashes.SHA256()),
                                           (pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, hashes.SHA1())])
def test_pkcs12_certificates_without_the_attribute_are_untrusted(world, algorithm, mac):
    """What `openssl pkcs12 -export -nokeys` makes: Java loads no trusted certificate from it."""
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(1000)
                  .key_cert_algorithm(algorithm).hmac_hash(mac).build(PASSWORD.encode()))
    data = pkcs12.serialize_key_and_certificates(None, None, None, [pkcs12.PKCS12Certificate(world.root, b"root")],
                                                 encryption)
    content = stores.read_truststore("pkcs12", data, PASSWORD)
    assert content.entries == (StoreEntry("root", "untrusted", None, (pki.cert_fingerprint(world.root),)),)
    assert stores.expected_truststore([("root", world.root)]).differences(content) == [
        "entry 'root' is a certificate Java does not trust (no trusted-key-usage attribute), not a trusted certificate"]


def test_jks_truststore_has_trusted_cert_entries(world):
    store = jks.KeyStore.loads(truststore(world, "jks", [("root", world.root)]), PASSWORD)
    assert list(store.certs) == ["root"]
    assert store.certs["root"].cert == world.root.public_bytes(serialization.Encoding.DER)


def test_pem_truststore_is_the_bundle_with_kafkas_aliases(world):
    data = stores.truststore_bytes("pem", certs=[("root", world.root), ("other", world.other_root)], password=None)
    assert data == pki.cert_pem(world.root) + pki.cert_pem(world.other_root)
    content = stores.read_truststore("pem", data, None)
    assert [(e.alias, e.kind) for e in content.entries] == [("kafka0", "trusted"), ("kafka1", "trusted")]
    with pytest.raises(StoreError):
        stores.read_truststore("pem", b"nothing", None)


def test_store_content_compares_by_what_it_holds_not_by_entry_order(world):
    root, other = world.root, world.other_root
    a = stores.expected_truststore([("root", root), ("other", other)])
    b = stores.expected_truststore([("other", other), ("root", root)])
    assert a == b and a.differences(b) == []
    c = stores.expected_truststore([("root", other), ("other", root)])  # the same certificates, swapped aliases
    assert a != c and a.differences(c) == ["entry 'other' holds a different certificate",
                                           "entry 'root' holds a different certificate"]

# --- PBKDF iterations -------------------------------------------------------------------------

def _iterations(data: bytes) -> list[int]:
    """The iteration count of every encrypted part of a PKCS12 file (certificate contents, key bags)."""
    def of_algorithm(algorithm: bytes) -> int:
        (_, oid), (_, params) = asn1.fields(algorithm)
        if oid == PBES2:
            kdf = asn1.fields(asn1.fields(params)[0][1])[1][1]  # keyDerivationFunc → PBKDF2-params
            return int.from_bytes(asn1.fields(kdf)[1][1], "big")
        return int.from_bytes(asn1.fields(params)[1][1], "big")  # PKCS#12 PBE: (salt, iterations)

    found = []
    for _, info in asn1.items(asn1.inner(pfx.auth_safe_of(data))):
        (_, kind), (_, body) = asn1.fields(info)
        if kind == pfx.ENCRYPTED_DATA:
            content_info = asn1.fields(asn1.inner(body))[1][1]
            found.append(of_algorithm(asn1.fields(content_info)[1][1]))
        else:
            for _, bag in asn1.items(asn1.inner(asn1.inner(body))):
                bag_id, value = asn1.fields(bag)[:2]
                if bag_id[1] == pfx.SHROUDED_KEY_BAG:
                    found.append(of_algorithm(asn1.fields(asn1.inner(value[1]))[0][1]))
    return found


@pytest.mark.parametrize("iterations", [pki.PBE_ITERATIONS, pki.GENERATED_PASSWORD_ITERATIONS])
@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-legacy"])
def test_iterations_reach_every_encrypted_part(world, label, iterations):
    fmt, profile = KEYSTORE_FORMATS[label]
    ks = stores.keystore_bytes(fmt, profile=profile, alias="kafka", key=world.keys["ec"], chain=world.chains["ec"],
                               password=PASSWORD, iterations=iterations)
    ts = stores.truststore_bytes(fmt, profile=profile, certs=[("root", world.root)], password=PASSWORD,
                                 iterations=iterations)
    assert _iterations(ks) == [iterations, iterations]  # the certificates, the key
    assert _iterations(ts) == [iterations]
    assert stores.read_keystore(fmt, ks, PASSWORD) == stores.expected_keystore("kafka", world.keys["ec"],
                                                                               world.chains["ec"])
    assert stores.read_truststore(fmt, ts, PASSWORD) == stores.expected_truststore([("root", world.root)])


def test_default_iterations_are_the_strong_ones(world):
    assert _iterations(keystore(world, "pkcs12-modern", "ec")) == [10_000, 10_000]


@pytest.mark.parametrize("iterations", [pki.PBE_ITERATIONS, pki.GENERATED_PASSWORD_ITERATIONS])
def test_pem_keystore_key_uses_the_iterations(world, iterations):
    data = stores.keystore_bytes("pem", alias="kafka", key=world.keys["ec"], chain=world.chains["ec"],
                                 password=PASSWORD, iterations=iterations)
    der = base64.b64decode(b"".join(data.split(b"-----END ENCRYPTED PRIVATE KEY-----")[0].splitlines()[1:]))
    params = asn1.fields(asn1.fields(asn1.inner(der))[0][1])[1][1]
    assert int.from_bytes(asn1.fields(params)[1][1], "big") == iterations
    assert stores.read_keystore("pem", data, PASSWORD) == stores.expected_keystore(
        stores.PEM_KEY_ALIAS, world.keys["ec"], world.chains["ec"])


# --- reading PKCS12 bag by bag -----------------------------------------------------------------

@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-generated", "pkcs12-legacy"])
def test_pkcs12_reader_agrees_with_cryptography(world, kt, label):
    data = keystore(world, label, kt)
    ours = stores.read_keystore("pkcs12", data, PASSWORD)
    theirs = pkcs12.load_pkcs12(data, PASSWORD.encode())
    (entry,) = ours.entries
    assert entry.key == pki.spki_fingerprint(theirs.key)
    assert entry.certs == tuple(pki.cert_fingerprint(c.certificate) for c in [theirs.cert, *theirs.additional_certs])
    assert entry.alias == theirs.cert.friendly_name.decode()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-generated", "pkcs12-legacy"])
def test_pkcs12_integrity_check_refuses_a_changed_byte(world, label):
    data = keystore(world, label, "ec")
    stores.read_keystore("pkcs12", data, PASSWORD)  # the control: unchanged, it reads
    auth_safe = pfx.auth_safe_of(data)
    for at in (data.index(auth_safe) + len(auth_safe) // 2, len(data) - 12):  # the contents; the MAC itself
        with pytest.raises(StoreError):
            stores.read_keystore("pkcs12", _flip(data, at), PASSWORD)


@pytest.mark.parametrize("label", ["pkcs12-modern", "pkcs12-generated", "pkcs12-legacy"])
def test_a_store_tlsgen_wrote_has_its_mac_checked_by_openssl_with_the_same_verdicts(world, label, monkeypatch):
    """verify reads the stores tlsgen wrote (unchanged since) with OpenSSL checking the MAC: the same
    content, the same refusal of a wrong password or a changed byte, in the same words."""
    checked_here = []
    check_mac = pfx._check_mac
    monkeypatch.setattr(pfx, "_check_mac", lambda *a: checked_here.append(1) or check_mac(*a))
    for data, read in ((keystore(world, label, "ec"), stores.read_keystore),
                       (truststore(world, label, [("root", world.root)]), stores.read_truststore)):
        assert read("pkcs12", data, PASSWORD, ours=True) == read("pkcs12", data, PASSWORD)
        auth_safe = pfx.auth_safe_of(data)
        for password, bad in ((PASSWORD + "x", data), (PASSWORD, _flip(data, data.index(auth_safe) + 40))):
            with pytest.raises(StoreError) as by_openssl:
                read("pkcs12", bad, password, ours=True)
            with pytest.raises(StoreError) as here:
                read("pkcs12", bad, password)
            assert str(by_openssl.value) == str(here.value)
    # The control: the unchecked reads (ours=False) and OpenSSL's refusals went through the check
    # here; the accepted ours=True reads did not (2 stores × (1 plain read + 2 refused × 2 paths)).
    assert len(checked_here) == 2 * (1 + 2 * 2)


def test_pkcs12_mac_iteration_count_beyond_javas_limit_is_refused_at_once(world):
    data = keystore(world, "pkcs12-modern", "ec")
    (version, content, mac_data) = asn1.fields(asn1.inner(data))
    digest, salt, count = asn1.fields(mac_data[1])
    assert int.from_bytes(count[1], "big") == 2048  # cryptography's MAC iterations
    huge = asn1.der(0x30, asn1.der(*digest) + asn1.der(*salt) + asn1.der_int(pfx.MAX_ITERATIONS + 1))
    forged = asn1.der(0x30, asn1.der(*version) + asn1.der(*content) + huge)
    with pytest.raises(StoreError, match="iteration count"):
        stores.read_keystore("pkcs12", forged, PASSWORD)


def _with_broken_rsa_key(world, fmt: str) -> bytes:
    n = world.keys["rsa"].private_numbers()
    d = n.d + 2  # another private exponent, CRT values to match: e·d is no longer 1 mod lcm(p-1, q-1)
    broken = rsa.RSAPrivateNumbers(n.p, n.q, d, d % (n.p - 1), d % (n.q - 1), n.iqmp, n.public_numbers).private_key(
        unsafe_skip_rsa_key_validation=True)
    return stores.keystore_bytes(fmt, alias="kafka", key=broken, chain=world.chains["rsa"], password=PASSWORD)


@pytest.mark.parametrize("fmt", ["pkcs12", "jks", "pem"])
def test_a_keystore_with_a_broken_rsa_key_is_a_store_error(world, fmt):
    with pytest.raises(StoreError, match="broken|does not open"):
        stores.read_keystore(fmt, _with_broken_rsa_key(world, fmt), PASSWORD)
    # The control: the real key, with the same public key, reads.
    good = stores.keystore_bytes(fmt, alias="kafka", key=world.keys["rsa"], chain=world.chains["rsa"], password=PASSWORD)
    assert stores.read_keystore(fmt, good, PASSWORD).entries[0].key == pki.spki_fingerprint(world.keys["rsa"])


def test_pkcs12_key_bag_under_another_password_is_a_store_error(world):
    """Java allows a key password other than the store's; Kafka gives both the same value."""
    pem = pki.encrypted_key_pem(world.keys["ec"], "another password", iterations=1000)
    shrouded = base64.b64decode(b"".join(pem.splitlines()[1:-1]))  # a pkcs8ShroudedKeyBag's value
    assert stores._working_key(shrouded, "another password", "kafka") is not None  # the control
    with pytest.raises(StoreError, match="does not open with the store password"):
        stores._working_key(shrouded, PASSWORD, "kafka")


# --- PKCS12 that tlsgen writes itself (pfx.py) ------------------------------------------------

def _mac_iterations(data: bytes) -> int | None:
    """The MacData's iteration count as written: None where it is left out (DER's DEFAULT 1)."""
    mac_data = asn1.fields(asn1.fields(asn1.inner(data))[2][1])
    return int.from_bytes(mac_data[2][1], "big") if len(mac_data) > 2 else None


def _skeleton(data: bytes) -> list:
    """A DER tree with the contents of every OCTET STRING and [0] IMPLICIT ciphertext replaced by
    their length (salts, IVs, ciphertexts, MACs: fresh each write): what is left is the structure,
    the algorithms and their parameters."""
    return [(tag, _skeleton(content) if tag & 0x20 else len(content) if tag in (0x04, 0x80) else content)
            for tag, content in asn1.items(data)]


def _decrypted_contents(data: bytes, password: str) -> list[bytes]:
    """Each SafeContents of a PKCS12 file, decrypted where it is encrypted."""
    found = []
    for _, info in asn1.items(asn1.inner(pfx.auth_safe_of(data))):
        (_, kind), (_, body) = asn1.fields(info)[:2]
        found.append(asn1.inner(body) if kind == pfx.DATA else pfx._decrypt_content(asn1.inner(body), password))
    return found


def _cryptography_writes(world, kind: str, iterations: int, alias: str) -> bytes:
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(iterations)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
                  .build(PASSWORD.encode()))
    if kind == "truststore":
        return pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(world.root, alias.encode()),
                                                 pkcs12.PKCS12Certificate(world.other_root, b"other")], encryption)
    return pkcs12.serialize_key_and_certificates(alias.encode(), world.keys["ec"], world.chains["ec"][0],
                                                 world.chains["ec"][1:], encryption)


def _pfx_writes(world, kind: str, iterations: int, alias: str, mac_iterations: int) -> bytes:
    der = serialization.Encoding.DER
    if kind == "truststore":
        return pfx.truststore([(alias, world.root.public_bytes(der)), ("other", world.other_root.public_bytes(der))],
                              PASSWORD, iterations=iterations, mac_iterations=mac_iterations)
    key = world.keys["ec"].private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pfx.keystore(alias, key, [c.public_bytes(der) for c in world.chains["ec"]], PASSWORD,
                        iterations=iterations, mac_iterations=mac_iterations)


@pytest.mark.parametrize("kind", ["keystore", "truststore"])
@pytest.mark.parametrize("alias", ["kafka", "a-client-whose-name-is-longer-than-its-key-id"])
def test_pfx_writes_what_cryptography_writes_but_for_the_salts(world, kind, alias):
    """With cryptography's MAC count, pfx.py's modern stores are cryptography's: the same structure,
    algorithms and parameters, and the same bags byte for byte once decrypted (attributes in DER
    order, which a long alias changes, localKeyID, Java's trusted attribute and its value)."""
    ours = _pfx_writes(world, kind, 1000, alias, mac_iterations=pki.MAC_ITERATIONS)
    theirs = _cryptography_writes(world, kind, 1000, alias)
    assert _skeleton(ours) == _skeleton(theirs) and _mac_iterations(ours) == 2048
    assert _skeleton(pfx.auth_safe_of(ours)) == _skeleton(pfx.auth_safe_of(theirs))
    certificates = _decrypted_contents(ours, PASSWORD)[0]
    assert certificates == _decrypted_contents(theirs, PASSWORD)[0]
    if kind == "keystore":  # the key bag: its attributes, and the same key under the same PBES2 parameters
        (ours_key,), (theirs_key,) = ([b for b in pfx.read(d, PASSWORD) if b.kind == "shrouded-key"]
                                      for d in (ours, theirs))
        assert ours_key._replace(value=b"") == theirs_key._replace(value=b"")
        assert _skeleton(_decrypted_contents(ours, PASSWORD)[1]) == _skeleton(_decrypted_contents(theirs, PASSWORD)[1])
        assert pki.spki_fingerprint(serialization.load_der_private_key(ours_key.value, PASSWORD.encode())) == \
            pki.spki_fingerprint(world.keys["ec"])
    # The controls: another iteration count, or another alias, is seen.
    assert _skeleton(pfx.auth_safe_of(_cryptography_writes(world, kind, 2000, alias))) != _skeleton(
        pfx.auth_safe_of(ours))
    assert _decrypted_contents(_cryptography_writes(world, kind, 1000, alias + "x"), PASSWORD)[0] != certificates


@pytest.mark.parametrize("kind", ["keystore", "truststore"])
def test_a_generated_passwords_modern_stores_take_one_mac_iteration_others_cryptographys_2048(world, kind):
    """The MAC count follows the password (pki.mac_iterations_for); legacy stores keep cryptography's."""
    def written(label: str, mac_iterations: int) -> bytes:
        fmt, profile = KEYSTORE_FORMATS[label]
        common = dict(profile=profile, password=PASSWORD, iterations=pki.GENERATED_PASSWORD_ITERATIONS,
                      mac_iterations=mac_iterations)
        if kind == "truststore":
            return stores.truststore_bytes(fmt, certs=[("root", world.root)], **common)
        return stores.keystore_bytes(fmt, alias="kafka", key=world.keys["ec"], chain=world.chains["ec"], **common)

    assert pki.mac_iterations_for(password_generated=True) == pki.GENERATED_PASSWORD_MAC_ITERATIONS == 1
    assert pki.mac_iterations_for(password_generated=False) == pki.MAC_ITERATIONS == 2048
    assert _mac_iterations(written("pkcs12-modern", 1)) is None  # DER leaves out the DEFAULT 1
    assert _mac_iterations(written("pkcs12-modern", pki.MAC_ITERATIONS)) == 2048
    assert _mac_iterations(written("pkcs12-legacy", 1)) == 2048  # cryptography's: 3DES stays its own
    assert _iterations(written("pkcs12-modern", 1)) == [1000] * (2 if kind == "keystore" else 1)


def test_cryptography_reads_the_mac_of_one_iteration_as_der(world):
    """The count of 1 is left out of the MacData: cryptography's reader (verify's MAC check) takes a
    file that names it for BER, with a warning that it may refuse such files one day."""
    import warnings

    data = keystore(world, "pkcs12-generated", "ec")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pkcs12.load_pkcs12(data, PASSWORD.encode())
    # The control: the same file with the count written out.
    version, content, mac_data = asn1.fields(asn1.inner(data))
    named = asn1.sequence(asn1.der(*version), asn1.der(*content),
                          asn1.sequence(*(asn1.der(*f) for f in asn1.fields(mac_data[1])), asn1.der_int(1)))
    assert stores.read_keystore("pkcs12", named, PASSWORD) == stores.read_keystore("pkcs12", data, PASSWORD)
    with pytest.warns(UserWarning, match="DEFAULT value was explicitly encoded"):
        pkcs12.load_pkcs12(named, PASSWORD.encode())


# --- many stores at once ---------------------------------------------------------------------

def _jobs(world) -> list:
    return [stores.StoreJob("pkcs12", PASSWORD, profile=profile, iterations=1000, alias=f"k{i}",
                            key=world.keys[kt], chain=world.chains[kt])
            for i, (profile, kt) in enumerate([("modern", "ec"), ("legacy", "rsa"), ("modern", "rsa")])] + [
        stores.StoreJob("jks", PASSWORD, alias="j", key=world.keys["ec"], chain=world.chains["ec"]),
        stores.StoreJob("pkcs12", PASSWORD, certs=[("root", world.root), ("other", world.other_root)]),
        stores.StoreJob("pem", None, certs=[("root", world.root)]),
        stores.StoreJob("pem", PASSWORD, alias="p", key=world.keys["rsa"], chain=world.chains["rsa"])]


def _content(job, data: bytes) -> StoreContent:
    if job.certs is not None:
        return stores.read_truststore(job.fmt, data, job.password)
    return stores.read_keystore(job.fmt, data, job.password)


def _expected(job) -> StoreContent:
    if job.certs is not None:
        if job.fmt == "pem":
            return StoreContent(tuple(StoreEntry(f"kafka{i}", "trusted", None, (pki.cert_fingerprint(c),))
                                      for i, (_, c) in enumerate(job.certs)))
        return stores.expected_truststore(job.certs)
    return stores.expected_keystore(stores.PEM_KEY_ALIAS if job.fmt == "pem" else job.alias, job.key, job.chain)


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_build_many_builds_every_store_in_order(world, processes):
    jobs = _jobs(world)
    built = stores.build_many(jobs, processes=processes)
    assert [_content(job, data) for job, data in zip(jobs, built)] == [_expected(job) for job in jobs]
    assert len(set(built)) == len(built)  # fresh salts everywhere: no store was copied from another


def test_build_many_in_workers_refuses_unknown_formats_before_starting(world):
    with pytest.raises(ValueError, match="unknown store format"):
        stores.build_many([stores.StoreJob("p12", PASSWORD, alias="a", key=world.keys["ec"], chain=world.chains["ec"])],
                          processes=2)
    with pytest.raises(ValueError, match="unknown PKCS12 profile"):
        stores.build_many([stores.StoreJob("pkcs12", PASSWORD, profile="strong", certs=[("r", world.root)])],
                          processes=2)


def test_build_many_raises_here_what_a_worker_met(world):
    bad = stores.StoreJob("pkcs12", PASSWORD, alias="a", key=world.keys["ec"], chain=[])  # no leaf certificate
    with pytest.raises(ValueError, match="leaf"):
        stores.build_many([bad, bad], processes=2)


def test_build_many_with_threads_running_builds_here(world, monkeypatch):
    monkeypatch.setattr(stores.workers, "map_forked", None)  # calling it would fail the test
    monkeypatch.setattr(stores.workers, "can_fork", lambda: False)
    jobs = _jobs(world)
    assert [_content(job, data) for job, data in zip(jobs, stores.build_many(jobs, processes=2))] == \
        [_expected(job) for job in jobs]


def test_jks_is_imported_only_for_jks_stores():
    code = ("import sys, tlsgen.crypto.stores as s, tlsgen.crypto.pki as p\n"
            "print('jks' in sys.modules)\n"
            "k = p.generate_key('ec-p256')\n"
            "import datetime; now = datetime.datetime.now(datetime.timezone.utc)\n"
            "c = p.issue_ca(subject=(('CN', 'r'),), key=k, path_length=None, validity=datetime.timedelta(days=1), now=now)\n"
            "s.truststore_bytes('jks', certs=[('r', c)], password='pw')\n"
            "print('jks' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}).stdout
    assert out.split() == ["False", "True"]
