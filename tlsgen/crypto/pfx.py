"""PKCS#12 files (RFC 7292) read bag by bag, where cryptography's `load_pkcs12` falls short, and
written where its writers lack a setting.

Why tlsgen walks PKCS#12 itself:
- `load_pkcs12` returns only friendly names, and Java decides whether a certificate of a
  truststore counts by another bag attribute (the trusted-key-usage attribute, see stores.py);
- `load_pkcs12` runs OpenSSL's RSA_check_key on the key, ~45 ms for an rsa-2048 key (both
  primes tested), which made `tlsgen verify` of 300 RSA clients spend ~14 s in it. Here the key
  bag comes back as DER for the caller to load as it sees fit (stores.py: pki.check_key_pair, ~0.02 ms).

Only what tlsgen reads is decoded: DER (BER is refused), unencrypted and encrypted SafeContents
(PBES2 with PBKDF2 and AES-CBC, and the PKCS#12 PBE with 3DES), and the HMAC integrity check with
the PKCS#12 key derivation. Anything else is a `PFXError`, never a guess.

Why tlsgen writes PKCS#12 itself (`keystore`, `truststore`; see "writing" below): cryptography's
writers fix the iteration count of the integrity MAC's key derivation at 2048, which is most of
what a store costs to write, and a store whose password tlsgen generated needs one (pki.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import NamedTuple

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from . import asn1


class PFXError(ValueError):
    """Bytes that are not a PKCS12 file tlsgen reads."""


class WrongPassword(PFXError):
    """The integrity check (or a decryption) fails with this password."""


# Java's PKCS12KeyStore refuses more iterations than this ("iteration count too large",
# MAX_ITERATION_COUNT in sun.security.pkcs12.PKCS12KeyStore); so does tlsgen, so that a crafted
# file cannot keep the pure-Python key derivation below busy for hours.
MAX_ITERATIONS = 5_000_000

DATA = asn1.oid("1.2.840.113549.1.7.1")
ENCRYPTED_DATA = asn1.oid("1.2.840.113549.1.7.6")
KEY_BAG = asn1.oid("1.2.840.113549.1.12.10.1.1")
SHROUDED_KEY_BAG = asn1.oid("1.2.840.113549.1.12.10.1.2")
CERT_BAG = asn1.oid("1.2.840.113549.1.12.10.1.3")
X509_CERT = asn1.oid("1.2.840.113549.1.9.22.1")
FRIENDLY_NAME = asn1.oid("1.2.840.113549.1.9.20")
LOCAL_KEY_ID = asn1.oid("1.2.840.113549.1.9.21")
PBE_SHA1_3DES = asn1.oid("1.2.840.113549.1.12.1.3")  # pbeWithSHAAnd3-KeyTripleDES-CBC
PBES2 = asn1.oid("1.2.840.113549.1.5.13")
PBKDF2 = asn1.oid("1.2.840.113549.1.5.12")
HMAC_SHA256 = asn1.oid("1.2.840.113549.2.9")
AES_256_CBC = asn1.oid("2.16.840.1.101.3.4.1.42")
SHA256 = asn1.oid("2.16.840.1.101.3.4.2.1")
# Java's trusted-key-usage attribute: Java's PKCS12 loader skips a certificate bag without a key
# unless it carries it; Java and cryptography give it one value, anyExtendedKeyUsage.
JAVA_TRUSTED_KEY_USAGE = asn1.oid("2.16.840.1.113894.746875.1.1")
ANY_EXTENDED_KEY_USAGE = asn1.oid("2.5.29.37.0")
_PRFS = {asn1.oid("1.2.840.113549.2.7"): hashes.SHA1, HMAC_SHA256: hashes.SHA256,
         asn1.oid("1.2.840.113549.2.10"): hashes.SHA384, asn1.oid("1.2.840.113549.2.11"): hashes.SHA512}
_AES_CBC = {asn1.oid("2.16.840.1.101.3.4.1.2"): 16, asn1.oid("2.16.840.1.101.3.4.1.22"): 24, AES_256_CBC: 32}
# The MAC's digest → (hashlib name, the hash's block size v in bytes, RFC 7292 B.2).
_MAC_DIGESTS = {asn1.oid("1.3.14.3.2.26"): ("sha1", 64), asn1.oid("2.16.840.1.101.3.4.2.4"): ("sha224", 64),
                SHA256: ("sha256", 64), asn1.oid("2.16.840.1.101.3.4.2.2"): ("sha384", 128),
                asn1.oid("2.16.840.1.101.3.4.2.3"): ("sha512", 128)}


class SafeBag(NamedTuple):
    kind: str  # "key" (PrivateKeyInfo) | "shrouded-key" (EncryptedPrivateKeyInfo) | "cert" (X.509) | "other"
    value: bytes  # the DER of that structure, whole
    friendly_name: str | None
    local_key_id: bytes | None
    attributes: frozenset[bytes]  # every attribute's OID, DER-encoded (see asn1.oid)


def read(data: bytes, password: str, *, openssl_mac: bool = False) -> list[SafeBag]:
    """Every safe bag of a PKCS12 file, in file order, after its integrity MAC has been checked.

    `openssl_mac`: OpenSSL checks the MAC (cryptography's load_pkcs12, ~0.1 ms where the Python
    derivation below takes ~1.2 ms at 2048 iterations); where it refuses, the check here says why.
    Only for a file tlsgen wrote itself (OpenSSL would spend whatever iteration counts a crafted file
    names, unbounded) that holds no RSA key (load_pkcs12 would run RSA_check_key on it, ~45 ms)."""
    auth_safe, mac_data = _pfx(data)
    if mac_data is not None and not (openssl_mac and _openssl_reads(data, password)):
        _check_mac(auth_safe, mac_data, password)
    return bags(auth_safe, password)


def _openssl_reads(data: bytes, password: str) -> bool:
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        pkcs12.load_pkcs12(data, password.encode())
    except ValueError:
        return False
    return True


def bags(auth_safe: bytes, password: str | None) -> list[SafeBag]:
    """The safe bags of a DER AuthenticatedSafe; encrypted SafeContents need the password."""
    found = []
    try:
        for _, info in asn1.items(asn1.inner(auth_safe)):  # AuthenticatedSafe: ContentInfo, ...
            (_, kind), (_, body) = asn1.fields(info)[:2]
            if kind == DATA:
                safe_contents = asn1.inner(body)  # [0] EXPLICIT OCTET STRING holding SafeContents
            elif kind == ENCRYPTED_DATA:
                if password is None:
                    raise PFXError("encrypted contents and no password")
                safe_contents = _decrypt_content(asn1.inner(body), password)
            else:
                raise PFXError("enveloped (public-key encrypted) contents, which tlsgen does not read")
            found += [_safe_bag(bag) for _, bag in asn1.items(asn1.inner(safe_contents))]
    except (IndexError, asn1.DERError) as exc:
        raise PFXError(f"a PKCS12 layout that tlsgen does not read ({exc})") from None
    return found


def auth_safe_of(data: bytes) -> bytes:
    """The DER AuthenticatedSafe inside a PFX, unchecked (for a file tlsgen has just written)."""
    return _pfx(data)[0]


def kdf(password: str, salt: bytes, iterations: int, *, purpose: int, size: int, digest: str = "sha1",
        block: int = 64) -> bytes:
    """RFC 7292 appendix B.2: purpose 1 gives a cipher key, 2 an IV, 3 a MAC key.

    cryptography has no public PKCS#12 KDF. This one is a Python loop of one hash per iteration
    (~0.2-0.3 µs each): ~0.4-0.6 ms for a MAC key at OpenSSL's and cryptography's 2048 iterations,
    ~3 ms per 20 bytes of 3DES key at 10,000. It reads MACs and 3DES-encrypted certificates, and
    makes the MAC key of the stores tlsgen writes itself (`keystore`, `truststore`), whose MAC takes
    fewer iterations; 3DES keys are written through cryptography (pki.encrypted_key_pem).
    """
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise PFXError(f"an iteration count of {iterations}; Java and tlsgen read 1 to {MAX_ITERATIONS}")
    new = _small_input_hash(digest)
    u = new().digest_size
    diversifier = bytes([purpose]) * block
    bmp_password = password.encode("utf-16-be") + b"\0\0"  # BMPString, NUL-terminated

    def fill(data: bytes) -> bytes:  # copies of data up to the next multiple of v bytes
        n = block * -(-len(data) // block)
        return (data * (n // len(data) + 1))[:n] if data else b""

    state = fill(salt) + fill(bmp_password)
    out = b""
    while len(out) < size:
        digest_bytes = new(diversifier + state).digest()
        for _ in range(iterations - 1):
            digest_bytes = new(digest_bytes).digest()
        out += digest_bytes
        b = int.from_bytes((digest_bytes * (block // u + 1))[:block], "big") + 1
        state = b"".join(((int.from_bytes(state[j:j + block], "big") + b) % (1 << (8 * block))).to_bytes(block, "big")
                         for j in range(0, len(state), block))
    return out[:size]


def _small_input_hash(name: str):
    """The constructor that hashes 20-64 bytes fastest: CPython's own implementation (_sha1,
    _sha256/_sha512, or _sha2 from 3.12) skips OpenSSL's per-call EVP set-up, 1.5x as fast here
    (2048 iterations of SHA-256: 0.79 against 1.17 ms); hashlib's when a build lacks it (FIPS)."""
    for module, attribute in ((f"_{name}", name), ("_sha256", name), ("_sha512", name), ("_sha2", name)):
        try:
            return getattr(__import__(module), attribute)
        except (ImportError, AttributeError):
            continue
    return getattr(hashlib, name)


# --- structure --------------------------------------------------------------------------------

def _pfx(data: bytes) -> tuple[bytes, bytes | None]:
    """(the DER AuthenticatedSafe, the MacData or None) of a PFX."""
    try:
        pfx = asn1.fields(asn1.inner(data))  # version, authSafe, macData
        content_type, content = asn1.fields(pfx[1][1])
        if pfx[0] != (0x02, b"\x03"):
            raise PFXError("not a version 3 PFX")
        if content_type[1] != DATA:
            raise PFXError("a PKCS12 file signed with a public key, which tlsgen does not read")
        auth_safe = asn1.inner(content[1])  # [0] EXPLICIT OCTET STRING
        return auth_safe, (pfx[2][1] if len(pfx) > 2 else None)
    except (IndexError, asn1.DERError) as exc:
        raise PFXError(f"not a PKCS12 file ({exc})") from None


def _check_mac(auth_safe: bytes, mac_data: bytes, password: str) -> None:
    try:
        parts = asn1.fields(mac_data)  # DigestInfo, macSalt, iterations DEFAULT 1
        (_, algorithm), (_, expected) = asn1.fields(parts[0][1])
        digest_oid = asn1.fields(algorithm)[0][1]
        salt = parts[1][1]
        iterations = int.from_bytes(parts[2][1], "big") if len(parts) > 2 else 1
    except (IndexError, asn1.DERError) as exc:
        raise PFXError(f"a MAC that tlsgen does not read ({exc})") from None
    if digest_oid not in _MAC_DIGESTS:
        raise PFXError("a MAC other than HMAC with SHA-1 or SHA-2 (such as PBMAC1), which tlsgen does not read")
    name, block = _MAC_DIGESTS[digest_oid]
    size = hashlib.new(name).digest_size
    key = kdf(password, salt, iterations, purpose=3, size=size, digest=name, block=block)
    if not hmac.compare_digest(hmac.new(key, auth_safe, name).digest(), expected):
        raise WrongPassword("wrong password (the PKCS12 integrity check fails)")


def _safe_bag(bag: bytes) -> SafeBag:
    parts = asn1.fields(bag)  # bagId, [0] EXPLICIT bagValue, bagAttributes OPTIONAL
    bag_id, value = parts[0][1], asn1.fields(parts[1][1])[0]
    name = local_key_id = None
    oids = set()
    for _, attribute in (asn1.items(parts[2][1]) if len(parts) > 2 else ()):
        (_, oid), (_, values) = asn1.fields(attribute)
        oids.add(oid)
        first = asn1.fields(values)[0] if values else None
        if oid == FRIENDLY_NAME and first is not None and first[0] == 0x1E:  # BMPString
            name = first[1].decode("utf-16-be", "replace")
        elif oid == LOCAL_KEY_ID and first is not None:
            local_key_id = first[1]
    whole = asn1.der(*value)  # DER is canonical: re-encoding gives back the same bytes
    if bag_id == KEY_BAG:
        return SafeBag("key", whole, name, local_key_id, frozenset(oids))
    if bag_id == SHROUDED_KEY_BAG:
        return SafeBag("shrouded-key", whole, name, local_key_id, frozenset(oids))
    if bag_id == CERT_BAG:
        cert_id, cert_value = asn1.fields(value[1])
        if cert_id[1] == X509_CERT:
            return SafeBag("cert", asn1.inner(cert_value[1]), name, local_key_id, frozenset(oids))
    return SafeBag("other", whole, name, local_key_id, frozenset(oids))


def _decrypt_content(encrypted_data: bytes, password: str) -> bytes:
    """EncryptedData (version, EncryptedContentInfo) → the DER SafeContents it holds."""
    _, content_info = asn1.fields(encrypted_data)
    _, algorithm, (tag, encrypted) = asn1.fields(content_info[1])[:3]
    if tag == 0xA0:  # constructed [0]: the ciphertext in several OCTET STRING pieces
        encrypted = b"".join(piece for _, piece in asn1.items(encrypted))
    (_, oid), (_, params) = asn1.fields(algorithm[1])
    if oid == PBE_SHA1_3DES:
        (_, salt), (_, count) = asn1.fields(params)
        iterations = int.from_bytes(count, "big")
        key = kdf(password, salt, iterations, purpose=1, size=24)
        iv = kdf(password, salt, iterations, purpose=2, size=8)
        cipher, block = Cipher(TripleDES(key), modes.CBC(iv)), 64
    elif oid == PBES2:
        (_, kdf_info), (_, scheme) = asn1.fields(params)
        (_, kdf_oid), (_, kdf_params) = asn1.fields(kdf_info)
        (_, enc_oid), (_, iv) = asn1.fields(scheme)
        if kdf_oid != PBKDF2 or enc_oid not in _AES_CBC:
            raise PFXError("PBES2 with a cipher other than AES-CBC, which tlsgen does not read")
        kdf_fields = asn1.fields(kdf_params)
        salt, iterations = kdf_fields[0][1], int.from_bytes(kdf_fields[1][1], "big")
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise PFXError(f"an iteration count of {iterations}; Java and tlsgen read 1 to {MAX_ITERATIONS}")
        prf = hashes.SHA1
        for field_tag, value in kdf_fields[2:]:
            if field_tag == 0x30:  # the PRF AlgorithmIdentifier (keyLength, an INTEGER, is implied by the cipher)
                prf = _PRFS.get(asn1.fields(value)[0][1], prf)
        key = PBKDF2HMAC(prf(), _AES_CBC[enc_oid], salt, iterations).derive(password.encode())
        cipher, block = Cipher(algorithms.AES(key), modes.CBC(iv)), 128
    else:
        raise PFXError("certificates encrypted with an algorithm tlsgen does not read (such as RC2-40)")
    decryptor = cipher.decryptor()
    unpadder = padding.PKCS7(block).unpadder()
    try:
        return unpadder.update(decryptor.update(encrypted) + decryptor.finalize()) + unpadder.finalize()
    except ValueError:
        raise WrongPassword("the certificates do not decrypt with this password") from None


# --- writing ----------------------------------------------------------------------------------
#
# The "modern" profile, as Java 17 and OpenSSL 3 write it by default: the certificates in one
# SafeContents encrypted with PBES2 (PBKDF2 with HMAC-SHA256, AES-256-CBC), the key in a
# pkcs8ShroudedKeyBag beside it (the same PBES2), and an HMAC-SHA256 integrity MAC. The bags, their
# attributes and every parameter are what cryptography's serialize_key_and_certificates and
# serialize_java_truststore write with PBESv2SHA256AndAES256CBC, byte for byte once decrypted
# (tests/test_stores.py); what they cannot write is a MAC of other than 2048 iterations of the
# PKCS#12 key derivation (in Rust, 0.44 ms: most of a 0.6 ms truststore or a 0.8 ms keystore).

def keystore(alias: str, key_der: bytes, chain_der: list[bytes], password: str, *, iterations: int,
             mac_iterations: int) -> bytes:
    """One key entry `alias`: `key_der` (PKCS#8) with its chain (DER, leaf first). The leaf and the
    key bag share a localKeyID, the SHA-1 of the leaf, and both carry the alias as friendlyName."""
    key_id = hashlib.sha1(chain_der[0]).digest()
    attributes = _attributes(alias, (LOCAL_KEY_ID, asn1.octets(key_id)))
    certs = [_cert_bag(chain_der[0], attributes), *(_cert_bag(cert, None) for cert in chain_der[1:])]
    algorithm, encrypted = _pbes2_encrypt(key_der, password, iterations)
    shrouded = asn1.sequence(asn1.oid_der(SHROUDED_KEY_BAG),
                             asn1.der(0xA0, asn1.sequence(algorithm, asn1.octets(encrypted))), attributes)
    return _pfx_bytes([_encrypted_data(asn1.sequence(*certs), password, iterations),
                       _data(asn1.sequence(shrouded))], password, mac_iterations)


def truststore(certs: list[tuple[str, bytes]], password: str, *, iterations: int, mac_iterations: int) -> bytes:
    """One trusted certificate entry per (alias, DER certificate), as Java's own truststores mark them."""
    trusted = (JAVA_TRUSTED_KEY_USAGE, asn1.oid_der(ANY_EXTENDED_KEY_USAGE))
    bags = [_cert_bag(cert, _attributes(alias, trusted)) for alias, cert in certs]
    return _pfx_bytes([_encrypted_data(asn1.sequence(*bags), password, iterations)], password, mac_iterations)


def _attributes(alias: str, other: tuple[bytes, bytes]) -> bytes:
    """bagAttributes: friendlyName (a BMPString) and one other attribute (OID, its one value)."""
    return asn1.set_of(*(asn1.sequence(asn1.oid_der(oid), asn1.set_of(value))
                         for oid, value in ((FRIENDLY_NAME, asn1.der(0x1E, alias.encode("utf-16-be"))), other)))


def _cert_bag(cert_der: bytes, attributes: bytes | None) -> bytes:
    value = asn1.sequence(asn1.oid_der(X509_CERT), asn1.der(0xA0, asn1.octets(cert_der)))
    return asn1.sequence(asn1.oid_der(CERT_BAG), asn1.der(0xA0, value), attributes or b"")


def _pbes2_encrypt(plain: bytes, password: str, iterations: int) -> tuple[bytes, bytes]:
    """(the AlgorithmIdentifier, the ciphertext) of `plain` under PBES2: PBKDF2 with HMAC-SHA256 and
    a 16-byte salt, AES-256-CBC with PKCS#7 padding (RFC 8018)."""
    salt, iv = os.urandom(16), os.urandom(16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(password.encode())
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    prf = asn1.sequence(asn1.oid_der(HMAC_SHA256), asn1.der(0x05, b""))
    kdf_params = asn1.sequence(asn1.oid_der(PBKDF2), asn1.sequence(asn1.octets(salt), asn1.der_int(iterations), prf))
    scheme = asn1.sequence(asn1.oid_der(AES_256_CBC), asn1.octets(iv))
    return asn1.sequence(asn1.oid_der(PBES2), asn1.sequence(kdf_params, scheme)), encrypted


def _data(safe_contents: bytes) -> bytes:
    return asn1.sequence(asn1.oid_der(DATA), asn1.der(0xA0, asn1.octets(safe_contents)))


def _encrypted_data(safe_contents: bytes, password: str, iterations: int) -> bytes:
    algorithm, encrypted = _pbes2_encrypt(safe_contents, password, iterations)
    content_info = asn1.sequence(asn1.oid_der(DATA), algorithm, asn1.der(0x80, encrypted))  # [0] IMPLICIT
    return asn1.sequence(asn1.oid_der(ENCRYPTED_DATA), asn1.der(0xA0, asn1.sequence(asn1.der_int(0), content_info)))


def _pfx_bytes(contents: list[bytes], password: str, mac_iterations: int) -> bytes:
    """The PFX around an AuthenticatedSafe of `contents`, with its HMAC-SHA256 MAC (RFC 7292 4, B.2).
    A count of 1 is left out: it is the DEFAULT, which DER omits (cryptography's load_pkcs12 warns
    that it falls back to BER for a file that names it, and says it may refuse such files one day)."""
    auth_safe = asn1.sequence(*contents)
    salt = os.urandom(8)
    mac_key = kdf(password, salt, mac_iterations, purpose=3, size=32, digest="sha256")
    digest_info = asn1.sequence(asn1.sequence(asn1.oid_der(SHA256), asn1.der(0x05, b"")),
                                asn1.octets(hmac.digest(mac_key, auth_safe, "sha256")))
    count = asn1.der_int(mac_iterations) if mac_iterations != 1 else b""
    return asn1.sequence(asn1.der_int(3), _data(auth_safe), asn1.sequence(digest_info, asn1.octets(salt), count))
