"""pki.py: keys, every certificate extension with its critical flag, validity windows, fingerprints.

The clock is a parameter, so validity windows are checked exactly.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from datetime import datetime, timedelta, timezone

import jks.rfc7292
import pytest
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from tlsgen.crypto import asn1, pfx, pki, workers

NOW = datetime(2030, 1, 1, 12, 0, 0, 654321, tzinfo=timezone.utc)
NOW_S = NOW.replace(microsecond=0)  # certificates hold whole seconds
SUBJECT = (("C", "GB"), ("ST", "London"), ("L", "Westminster"), ("O", "UK Home Office"), ("OU", "Callisto"),
           ("CN", "Callisto Localhost"))


@pytest.fixture(scope="module")
def keys():
    rsa_a, rsa_b = pki.generate_keys(["rsa-2048", "rsa-2048"])
    return {"rsa": rsa_a, "rsa2": rsa_b, "p256": pki.generate_key("ec-p256"), "p384": pki.generate_key("ec-p384")}


@pytest.fixture(scope="module")
def root(keys):
    return pki.issue_ca(subject=SUBJECT, key=keys["rsa"], path_length=None, validity=timedelta(days=3650), now=NOW)


@pytest.fixture(scope="module")
def issuing(keys, root):
    return pki.issue_ca(subject=(("O", "UK Home Office"), ("CN", "callisto-issuing")), key=keys["p384"],
                        issuer_cert=root, issuer_key=keys["rsa"], path_length=0, validity=timedelta(days=1825), now=NOW)


def leaf(keys, issuing, *, key="p256", usages=("serverAuth", "clientAuth"), hostnames=("kafka", "localhost"),
         ip_addresses=("127.0.0.1", "::1"), validity=timedelta(days=365), now=NOW):
    return pki.issue_leaf(subject=(("O", "UK Home Office"), ("CN", "kafka")), public_key=keys[key].public_key(),
                          issuer_cert=issuing, issuer_key=keys["p384"], hostnames=hostnames,
                          ip_addresses=ip_addresses, usages=usages, validity=validity, now=now)


def ext(cert: x509.Certificate, oid) -> x509.Extension:
    return cert.extensions.get_extension_for_oid(oid)


# --- keys -------------------------------------------------------------------------------------

@pytest.mark.parametrize("key_type", pki.KEY_TYPES)
def test_generate_key_makes_each_key_type(key_type):
    key = pki.generate_key(key_type)
    assert pki.key_type_of(key) == key_type
    assert pki.key_type_of(key.public_key()) == key_type
    if key_type.startswith("rsa-"):
        assert isinstance(key, rsa.RSAPrivateKey)
        assert key.key_size == int(key_type[4:])
        assert key.public_key().public_numbers().e == 65537
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}[key_type]


@pytest.mark.parametrize("bad", ["rsa-1024", "ec-p521", "ed25519", ""])
def test_unknown_key_types_are_refused(bad):
    with pytest.raises(ValueError, match="unknown key type"):
        pki.generate_key(bad)
    with pytest.raises(ValueError, match="unknown key type"):
        pki.generate_keys(["ec-p256", bad])


def test_generate_keys_keeps_order_and_makes_distinct_keys():
    types = ["ec-p256", "rsa-2048", "ec-p384", "rsa-2048", "rsa-3072"]
    keys = pki.generate_keys(types)
    assert [pki.key_type_of(k) for k in keys] == types
    assert len({pki.spki_fingerprint(k) for k in keys}) == len(types)


def test_generate_keys_makes_rsa_keys_in_other_threads(monkeypatch):
    if not pki._KEYGEN_RELEASES_GIL:
        pytest.skip("cryptography < 47 holds the GIL while making a key: forked workers make them")
    real, threads = pki.generate_key, set()

    def recorded(key_type):
        threads.add(threading.get_ident())
        return real(key_type)

    monkeypatch.setattr(pki, "generate_key", recorded)
    keys = pki.generate_keys(["rsa-2048", "rsa-3072", "rsa-2048", "ec-p256"], processes=2)
    assert [pki.key_type_of(k) for k in keys] == ["rsa-2048", "rsa-3072", "rsa-2048", "ec-p256"]
    assert len({pki.spki_fingerprint(k) for k in keys}) == 4
    # Threads of a pool made the RSA keys (at most 2; only this thread made the EC key).
    assert 1 <= len(threads - {threading.get_ident()}) <= 2


@pytest.mark.skipif(not pki.workers.can_fork(), reason="forked workers need Linux and a single thread")
def test_generate_keys_with_an_older_cryptography_makes_rsa_keys_in_forked_workers(monkeypatch):
    real = pki.generate_key

    def not_here(key_type):
        assert not key_type.startswith("rsa-"), "an RSA key was made in-process"
        return real(key_type)

    # Workers make keys with pki._rsa_key_der, never pki.generate_key: only this process's own
    # fallback would call the patched function.
    monkeypatch.setattr(pki, "_KEYGEN_RELEASES_GIL", False)
    monkeypatch.setattr(pki, "generate_key", not_here)
    keys = pki.generate_keys(["rsa-2048", "rsa-3072", "rsa-2048", "ec-p256"], processes=2)
    assert [pki.key_type_of(k) for k in keys] == ["rsa-2048", "rsa-3072", "rsa-2048", "ec-p256"]
    assert len({pki.spki_fingerprint(k) for k in keys}) == 4
    for key in keys[:3]:  # whole keys, usable for signing
        pki.check_key_pair(key)


def test_generate_keys_makes_them_here_when_workers_fail(monkeypatch):
    def broken(fn, items, processes):
        raise workers.WorkerError("no processes in this sandbox")

    monkeypatch.setattr(pki, "_KEYGEN_RELEASES_GIL", False)
    monkeypatch.setattr(workers, "map_forked", broken)
    keys = pki.generate_keys(["rsa-2048", "rsa-2048"], processes=2)
    assert [pki.key_type_of(k) for k in keys] == ["rsa-2048", "rsa-2048"]


def test_generate_keys_of_nothing_is_nothing():
    assert pki.generate_keys([]) == []


def test_key_type_of_a_certificate_key(keys, issuing):
    assert pki.key_type_of(leaf(keys, issuing, key="rsa").public_key()) == "rsa-2048"
    assert pki.key_type_of(issuing.public_key()) == "ec-p384"


def test_key_pem_is_unencrypted_pkcs8_and_loads_back(keys):
    for key in (keys["rsa"], keys["p256"]):
        pem = pki.key_pem(key)
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
        assert pki.spki_fingerprint(pki.load_key(pem)) == pki.spki_fingerprint(key)


def test_encrypted_key_pem_uses_pkcs12_3des_that_java_17_can_decrypt(keys):
    pem = pki.encrypted_key_pem(keys["p256"], "s3cret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    info = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    # EncryptedPrivateKeyInfo → AlgorithmIdentifier → pbeWithSHAAnd3-KeyTripleDES-CBC, not PBES2.
    assert pki.PBE_SHA1_3DES_OID in info[:24]
    assert bytes.fromhex("2a864886f70d01050d") not in info  # PBES2
    assert pki.spki_fingerprint(pki.load_key(pem, "s3cret")) == pki.spki_fingerprint(keys["p256"])
    with pytest.raises(ValueError):
        pki.load_key(pem, "wrong")
    with pytest.raises(ValueError):
        pki.load_key(pem)


def test_encrypted_key_pem_has_fresh_salt(keys):
    assert pki.encrypted_key_pem(keys["rsa"], "pw") != pki.encrypted_key_pem(keys["rsa"], "pw")


def _encrypted_private_key_info(pem: bytes) -> tuple[bytes, bytes, int, bytes]:
    """(algorithm OID, salt, iterations, ciphertext) of an EncryptedPrivateKeyInfo, read field by field."""
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    assert asn1.der(*asn1.fields(der)[0]) == der  # one SEQUENCE, nothing after it
    (tag_a, algorithm), (tag_e, encrypted) = asn1.fields(asn1.inner(der))
    assert (tag_a, tag_e) == (0x30, 0x04)
    (tag_o, oid), (tag_p, params) = asn1.fields(algorithm)
    (tag_s, salt), (tag_i, count) = asn1.fields(params)
    assert (tag_o, tag_p, tag_s, tag_i) == (0x06, 0x30, 0x04, 0x02)
    return oid, salt, int.from_bytes(count, "big"), encrypted


@pytest.mark.parametrize("iterations", [pki.PBE_ITERATIONS, pki.GENERATED_PASSWORD_ITERATIONS])
@pytest.mark.parametrize("key", ["p256", "rsa"])
def test_encrypted_key_pem_is_standard_pkcs12_pbe_with_3des(keys, key, iterations):
    """Byte level: RFC 5208's EncryptedPrivateKeyInfo with RFC 7292's pbeWithSHAAnd3-KeyTripleDES-CBC,
    decrypted here with an independent KDF (pyjks) and 3DES, giving back the key's own PKCS#8."""
    password = "Zq7tW2mPx9LkR4vB8nJc3HsD6fGy1aUe"
    pem = pki.encrypted_key_pem(keys[key], password, iterations=iterations)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n") and pem.endswith(b"-----END ENCRYPTED PRIVATE KEY-----\n")
    oid, salt, count, encrypted = _encrypted_private_key_info(pem)
    assert oid == pki.PBE_SHA1_3DES_OID and count == iterations and len(salt) >= 8
    des_key = jks.rfc7292.derive_key(hashlib.sha1, 1, password, salt, count, 24)
    iv = jks.rfc7292.derive_key(hashlib.sha1, 2, password, salt, count, 8)
    decryptor = Cipher(TripleDES(des_key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(64).unpadder()
    plain = unpadder.update(decryptor.update(encrypted) + decryptor.finalize()) + unpadder.finalize()
    assert plain == keys[key].private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
    wrong = jks.rfc7292.derive_key(hashlib.sha1, 1, password + "x", salt, count, 24)  # negative control
    garbage = Cipher(TripleDES(wrong), modes.CBC(iv)).decryptor().update(encrypted)
    assert not garbage.startswith(plain[:16])


def test_iterations_are_fewer_only_for_generated_passwords():
    assert pki.iterations_for(password_generated=False) == pki.PBE_ITERATIONS == 10_000
    assert pki.iterations_for(password_generated=True) == pki.GENERATED_PASSWORD_ITERATIONS == 1000


@pytest.mark.parametrize("digest,block,purpose,size", [("sha1", 64, 1, 24), ("sha1", 64, 2, 8), ("sha1", 64, 3, 20),
                                                       ("sha256", 64, 3, 32), ("sha512", 128, 3, 64)])
def test_pkcs12_kdf_matches_an_independent_implementation(digest, block, purpose, size):
    salt = bytes(range(8))
    ours = pfx.kdf("Zq7tW2mPx9LkR4vB8nJc3HsD6fGy1aUe", salt, 2048, purpose=purpose, size=size, digest=digest,
                   block=block)
    theirs = jks.rfc7292.derive_key(getattr(hashlib, digest), purpose, "Zq7tW2mPx9LkR4vB8nJc3HsD6fGy1aUe", salt,
                                    2048, size)
    assert ours == theirs
    assert ours != pfx.kdf("Zq7tW2mPx9LkR4vB8nJc3HsD6fGy1aUe", salt, 2047, purpose=purpose, size=size,
                           digest=digest, block=block)


@pytest.mark.parametrize("iterations", [0, pfx.MAX_ITERATIONS + 1])
def test_pkcs12_kdf_refuses_iteration_counts_java_refuses(iterations):
    with pytest.raises(pfx.PFXError, match="iteration count"):
        pfx.kdf("pw", bytes(8), iterations, purpose=1, size=24)


def _broken_rsa_key(key: rsa.RSAPrivateKey, *, crt_only: bool) -> bytes:
    """The key's PEM with another private exponent (consistent CRT values), or with only dP changed."""
    n = key.private_numbers()
    p, q, e = n.p, n.q, n.public_numbers.e
    if crt_only:
        numbers = rsa.RSAPrivateNumbers(p, q, n.d, n.dmp1 ^ 2, n.dmq1, n.iqmp, n.public_numbers)
    else:
        d = n.d + 2
        numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), n.iqmp, n.public_numbers)
    broken = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    assert e == 65537
    return broken.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())


@pytest.mark.parametrize("crt_only", [False, True])
def test_quick_key_check_refuses_a_broken_rsa_key(keys, crt_only):
    pem = _broken_rsa_key(keys["rsa"], crt_only=crt_only)
    with pytest.raises(ValueError):
        pki.load_key(pem, full_check=False)
    with pytest.raises(ValueError):
        pki.load_key(pem)  # OpenSSL's RSA_check_key agrees
    pki.load_key(pem, trusted=True)  # no check at all: loads
    good = pki.load_key(pki.key_pem(keys["rsa"]), full_check=False)  # the control: the real key passes
    assert pki.spki_fingerprint(good) == pki.spki_fingerprint(keys["rsa"])


def test_load_key_refuses_a_password_for_a_plain_key(keys):
    with pytest.raises(ValueError):
        pki.load_key(pki.key_pem(keys["p256"]), "unexpected")


# --- fingerprints -----------------------------------------------------------------------------

def test_spki_fingerprint_matches_key_public_key_and_certificate(keys, issuing):
    cert = leaf(keys, issuing)
    fingerprints = {pki.spki_fingerprint(keys["p256"]), pki.spki_fingerprint(keys["p256"].public_key()),
                    pki.spki_fingerprint(cert)}
    assert len(fingerprints) == 1
    spki = keys["p256"].public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    assert fingerprints == {hashlib.sha256(spki).hexdigest()}
    assert pki.spki_fingerprint(keys["rsa"]) != pki.spki_fingerprint(keys["rsa2"])


def test_cert_fingerprint_is_sha256_of_der(keys, issuing):
    cert = leaf(keys, issuing)
    assert pki.cert_fingerprint(cert) == hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert len(pki.cert_fingerprint(cert)) == 64
    assert pki.cert_fingerprint(cert) != pki.cert_fingerprint(leaf(keys, issuing))  # new serial, new certificate


# --- what every certificate has ---------------------------------------------------------------

def test_subject_attributes_in_model_order(root):
    assert [(a.oid, a.value) for a in root.subject] == [
        (NameOID.COUNTRY_NAME, "GB"), (NameOID.STATE_OR_PROVINCE_NAME, "London"),
        (NameOID.LOCALITY_NAME, "Westminster"), (NameOID.ORGANIZATION_NAME, "UK Home Office"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Callisto"), (NameOID.COMMON_NAME, "Callisto Localhost")]
    # Kafka's principal is the RFC 2253 form, most specific first.
    assert root.subject.rfc4514_string() == "CN=Callisto Localhost,OU=Callisto,O=UK Home Office,L=Westminster,ST=London,C=GB"


def test_serials_are_random_positive_and_at_least_64_bits(keys, issuing, root):
    serials = [root.serial_number, issuing.serial_number] + [leaf(keys, issuing).serial_number for _ in range(5)]
    assert all(s > 0 and s.bit_length() >= 64 for s in serials)  # fails by chance with probability ~2^-90
    assert len(set(serials)) == len(serials)


def test_validity_starts_an_hour_early_and_runs_for_the_validity(keys, issuing, root):
    assert root.not_valid_before_utc == NOW_S - timedelta(hours=1)
    assert root.not_valid_after_utc == NOW_S + timedelta(days=3650)
    cert = leaf(keys, issuing, validity=timedelta(days=30))
    assert cert.not_valid_before_utc == NOW_S - timedelta(hours=1)
    assert cert.not_valid_after_utc == NOW_S + timedelta(days=30)


def test_not_after_is_clipped_to_the_issuer(keys, issuing, root):
    assert issuing.not_valid_after_utc == NOW_S + timedelta(days=1825)  # within the root's 3650 days
    long_ca = pki.issue_ca(subject=(("CN", "long"),), key=keys["p256"], issuer_cert=issuing, issuer_key=keys["p384"],
                           path_length=None, validity=timedelta(days=99999), now=NOW)
    assert long_ca.not_valid_after_utc == issuing.not_valid_after_utc
    long_leaf = leaf(keys, issuing, validity=timedelta(days=5000))
    assert long_leaf.not_valid_after_utc == issuing.not_valid_after_utc


def test_a_naive_clock_counts_as_utc(keys, issuing):
    cert = leaf(keys, issuing, now=NOW.replace(tzinfo=None))
    assert cert.not_valid_before_utc == NOW_S - timedelta(hours=1)


def test_signature_hash_follows_the_signing_key(keys, root, issuing):
    assert isinstance(root.signature_hash_algorithm, hashes.SHA256)  # RSA root signs itself
    assert isinstance(issuing.signature_hash_algorithm, hashes.SHA256)  # signed by the RSA root
    assert isinstance(leaf(keys, issuing).signature_hash_algorithm, hashes.SHA384)  # signed by the P-384 CA
    p256_root = pki.issue_ca(subject=(("CN", "p256"),), key=keys["p256"], path_length=None,
                             validity=timedelta(days=1), now=NOW)
    assert isinstance(p256_root.signature_hash_algorithm, hashes.SHA256)
    p384_root = pki.issue_ca(subject=(("CN", "p384"),), key=keys["p384"], path_length=None,
                             validity=timedelta(days=1), now=NOW)
    assert isinstance(p384_root.signature_hash_algorithm, hashes.SHA384)


# --- CAs --------------------------------------------------------------------------------------

def test_root_is_self_signed_with_ca_extensions(keys, root):
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    bc = ext(root, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    ku = ext(root, ExtensionOID.KEY_USAGE)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature and not ku.value.key_encipherment
    ski = ext(root, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    assert not ski.critical
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(keys["rsa"].public_key())
    aki = ext(root, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    assert not aki.critical and aki.value.key_identifier == ski.value.digest
    assert {e.oid for e in root.extensions} == {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE,
                                                 ExtensionOID.SUBJECT_KEY_IDENTIFIER,
                                                 ExtensionOID.AUTHORITY_KEY_IDENTIFIER}


def test_intermediate_is_signed_by_its_issuer_with_path_length(keys, root, issuing):
    assert issuing.issuer == root.subject
    issuing.verify_directly_issued_by(root)
    bc = ext(issuing, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert ext(issuing, ExtensionOID.KEY_USAGE).critical
    aki = ext(issuing, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert aki.key_identifier == ext(root, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest


def test_issuer_cert_and_key_go_together(keys, root):
    with pytest.raises(ValueError):
        pki.issue_ca(subject=(("CN", "x"),), key=keys["p256"], issuer_cert=root, path_length=None,
                     validity=timedelta(days=1), now=NOW)


# --- leaves -----------------------------------------------------------------------------------

def test_leaf_extensions(keys, issuing):
    cert = leaf(keys, issuing)
    cert.verify_directly_issued_by(issuing)
    assert cert.issuer == issuing.subject
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc.critical and not bc.value.ca and bc.value.path_length is None
    eku = ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    assert not eku.critical and list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    san = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert not san.critical
    assert san.value.get_values_for_type(x509.DNSName) == ["kafka", "localhost"]
    assert [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    ski = ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    assert not ski.critical and ski.value == x509.SubjectKeyIdentifier.from_public_key(keys["p256"].public_key())
    aki = ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    assert not aki.critical
    assert aki.value.key_identifier == ext(issuing, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest


@pytest.mark.parametrize("key,encipherment", [("p256", False), ("rsa", True)])
def test_leaf_key_usage_depends_on_key_type(keys, issuing, key, encipherment):
    ku = ext(leaf(keys, issuing, key=key), ExtensionOID.KEY_USAGE)
    assert ku.critical
    assert ku.value.digital_signature
    assert ku.value.key_encipherment is encipherment
    assert not ku.value.key_cert_sign and not ku.value.crl_sign and not ku.value.content_commitment
    assert not ku.value.data_encipherment and not ku.value.key_agreement


@pytest.mark.parametrize("usages,oids", [
    (("clientAuth",), [ExtendedKeyUsageOID.CLIENT_AUTH]),
    (("serverAuth",), [ExtendedKeyUsageOID.SERVER_AUTH]),
    (("serverAuth", "clientAuth"), [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
])
def test_leaf_extended_key_usage_follows_usages(keys, issuing, usages, oids):
    assert list(ext(leaf(keys, issuing, usages=usages), ExtensionOID.EXTENDED_KEY_USAGE).value) == oids


@pytest.mark.parametrize("usages", [(), ("codeSigning",), ("serverAuth", "emailProtection")])
def test_leaf_refuses_unknown_usages(keys, issuing, usages):
    with pytest.raises(ValueError, match="usages"):
        leaf(keys, issuing, usages=usages)


def test_leaf_without_names_has_no_san_extension(keys, issuing):
    cert = leaf(keys, issuing, usages=("clientAuth",), hostnames=(), ip_addresses=())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_leaf_with_only_ip_addresses(keys, issuing):
    cert = leaf(keys, issuing, hostnames=(), ip_addresses=("10.0.0.7",))
    san = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert san.get_values_for_type(x509.DNSName) == []
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]


# --- PEM --------------------------------------------------------------------------------------

def test_cert_pem_round_trips_and_bundles_load_in_order(keys, root, issuing):
    cert = leaf(keys, issuing)
    assert pki.load_cert(pki.cert_pem(cert)) == cert
    bundle = b"".join(pki.cert_pem(c) for c in (cert, issuing, root))
    assert [pki.cert_fingerprint(c) for c in pki.load_certs(bundle)] == [
        pki.cert_fingerprint(c) for c in (cert, issuing, root)]
    with pytest.raises(ValueError):
        pki.load_certs(b"no certificates here")


# --- many leaves at once ----------------------------------------------------------------------

@pytest.mark.parametrize("processes", [1, 2])
def test_issue_leaves_signs_every_order_in_order(keys, issuing, root, processes):
    orders = [pki.LeafOrder(subject=(("O", "UK Home Office"), ("CN", f"client-{i}")), public_key=keys["p256"].public_key(),
                            issuer_cert=issuing if i % 2 else root, issuer_key=keys["p384"] if i % 2 else keys["rsa"],
                            usages=("clientAuth",), validity=timedelta(days=30), now=NOW,
                            hostnames=(f"h{i}",) if i % 3 == 0 else ())
              for i in range(7)]
    certs = pki.issue_leaves(orders, processes=processes)
    assert [pki.subject_of(c)[-1] for c in certs] == [("CN", f"client-{i}") for i in range(7)]
    for i, cert in enumerate(certs):
        cert.verify_directly_issued_by(issuing if i % 2 else root)
        assert pki.sans_of(cert) == ((f"DNS:h{i}",) if i % 3 == 0 else ())
        assert cert.not_valid_after_utc == NOW_S + timedelta(days=30)
    assert len({c.serial_number for c in certs}) == 7  # every worker draws its own serials


def test_issue_leaves_raises_what_a_worker_met(keys, issuing):
    bad = pki.LeafOrder(subject=(("CN", "x"),), public_key=keys["p256"].public_key(), issuer_cert=issuing,
                        issuer_key=keys["p384"], usages=("codeSigning",), validity=timedelta(days=1), now=NOW)
    with pytest.raises(ValueError, match="usages"):
        pki.issue_leaves([bad, bad, bad], processes=2)


def test_start_generate_keys_returns_at_once_and_waits_when_called(monkeypatch):
    if not pki._KEYGEN_RELEASES_GIL:
        pytest.skip("cryptography < 47: keys are made when the result is called")
    started = threading.Event()
    release = threading.Event()
    real = pki.generate_key

    def held(key_type):  # keys are made only once the test allows it
        started.set()
        assert release.wait(30)
        return real(key_type)

    monkeypatch.setattr(pki, "generate_key", held)
    wait = pki.start_generate_keys(["rsa-2048", "ec-p256", "rsa-2048"])
    assert started.wait(30)  # a thread has started on a key, and this thread is free
    release.set()
    keys = wait()
    assert [pki.key_type_of(k) for k in keys] == ["rsa-2048", "ec-p256", "rsa-2048"]
    assert len({pki.spki_fingerprint(k) for k in keys}) == 3
    with pytest.raises(ValueError, match="unknown key type"):
        pki.start_generate_keys(["rsa-1024"])


def test_keys_are_made_in_the_order_asked_for_and_their_threads_end_when_none_waits(monkeypatch):
    """One queue for the process: the keys of a first request are all made before those of a later
    one, whatever calls asked (apply's next batches wait on theirs in turn), by at most one thread per
    core; the threads end once no key is waiting, so the process may fork again (workers.can_fork)."""
    if not pki._KEYGEN_RELEASES_GIL:
        pytest.skip("cryptography < 47: keys are made when the result is called")
    made, release = [], threading.Event()
    real = pki.generate_key

    def recorded(key_type):
        made.append(key_type)
        assert release.wait(30)
        return real("ec-p256")

    def key_threads(settle: bool = False) -> int:  # another test's may still be finishing a key
        for _ in range(600 if settle else 0):
            if not any(t.name == "tlsgen-keygen" for t in threading.enumerate()):
                break
            time.sleep(0.05)
        return sum(t.name == "tlsgen-keygen" for t in threading.enumerate())

    assert key_threads(settle=True) == 0
    monkeypatch.setattr(pki, "generate_key", recorded)
    for cores in (1, 2):  # one thread: the order is exact; two: a thread per core, whatever was asked
        made.clear()
        release.clear()
        monkeypatch.setattr(workers, "cpu_count", lambda: cores)
        first = pki.start_generate_keys(["rsa-2048"] * 4)
        second = pki.start_generate_keys(["rsa-3072"] * 4)
        assert key_threads() == cores
        release.set()
        assert len(first()) == len(second()) == 4
        if cores == 1:
            assert made == ["rsa-2048"] * 4 + ["rsa-3072"] * 4  # the control of a pool per request: interleaved
        assert key_threads(settle=True) == 0  # they end once no key waits


def test_keys_made_ahead_are_taken_first_by_type_and_cancel_drops_the_rest():
    ahead = pki.KeysAhead(["rsa-2048", "ec-p256", "rsa-2048", "rsa-3072"])
    first, second = ahead.take("rsa-2048"), ahead.take("rsa-2048")
    if not pki._KEYGEN_RELEASES_GIL:
        assert first is None and second is None  # cryptography < 47: nothing is made ahead
        return
    assert ahead.take("rsa-2048") is None and ahead.take("ec-p256") is None  # EC keys take microseconds
    made_ahead = pki.spki_fingerprint(first.result())
    ahead = pki.KeysAhead(["rsa-2048"])
    expected = pki.spki_fingerprint(ahead._queues["rsa-2048"][0].result())
    keys = pki.start_generate_keys(["ec-p256", "rsa-2048", "rsa-2048"], ahead)()
    assert [pki.key_type_of(k) for k in keys] == ["ec-p256", "rsa-2048", "rsa-2048"]
    assert pki.spki_fingerprint(keys[1]) == expected  # the one made ahead, then a new one
    assert pki.spki_fingerprint(keys[2]) not in (expected, made_ahead)
    ahead = pki.KeysAhead(["rsa-4096"] * 8)
    ahead.cancel()
    assert ahead.take("rsa-4096") is None
