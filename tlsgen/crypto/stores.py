"""Keystores and truststores: built from one key/chain (or certificate list) input, chosen by format
name, and read back as a `StoreContent` so they are compared by what they hold, never by bytes
(every write has fresh salts, IVs and, for JKS, timestamps).

Formats: "pkcs12" (profile "modern" or "legacy"), "jks", and "pem" (Kafka's ssl.keystore.type=PEM:
an encrypted PKCS#8 key then the chain; the PEM truststore is the ca.pem bundle).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

import jks
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12

from ..model.topology import STORE_FORMATS
from . import asn1, pki
from .pki import PrivateKey

PKCS12_PROFILES = ("modern", "legacy")
# Kafka's PemStore names the entries it builds from PEM files: "kafka" for the key, "kafka0".. for
# trusted certificates (DefaultSslEngineFactory.PemStore.createKeyStoreFromPem/createTrustStoreFromPem).
PEM_KEY_ALIAS = "kafka"
PEM_TRUSTED_ALIAS = "kafka{}"


class StoreError(ValueError):
    """A store that cannot be read: wrong password, not the format it claims, or unusable by Java."""


class StoreEntry(NamedTuple):
    alias: str
    kind: str  # "key" | "trusted" | "untrusted" (a certificate Java ignores: no trusted attribute)
    key: str | None  # SPKI fingerprint of a key entry's private key
    certs: tuple[str, ...]  # certificate fingerprints; a key entry's chain leaf first


@dataclass(frozen=True)
class StoreContent:
    """What a store holds as Java sees it, normalised so that two writes of the same input compare equal."""

    entries: tuple[StoreEntry, ...]

    def __post_init__(self) -> None:
        ordered = sorted(self.entries, key=lambda e: (e.alias, e.kind, e.key or "", e.certs))
        object.__setattr__(self, "entries", tuple(ordered))

    def differences(self, actual: StoreContent) -> list[str]:
        """One sentence per way `actual` falls short of this (expected) content; empty when equal."""
        found = {e.alias: e for e in actual.entries}
        wanted = {e.alias: e for e in self.entries}
        out = []
        for alias, want in wanted.items():
            have = found.get(alias)
            if have is None:
                out.append(f"no entry '{alias}'")
            elif have.kind != want.kind:
                out.append(f"entry '{alias}' is {_KIND_TEXT[have.kind]}, not {_KIND_TEXT[want.kind]}")
            elif have.key != want.key:
                out.append(f"entry '{alias}' holds a different private key")
            elif have.certs != want.certs:
                what = "certificate chain" if want.kind == "key" else "certificate"
                out.append(f"entry '{alias}' holds a different {what}")
        out += [f"unexpected entry '{alias}'" for alias in found if alias not in wanted]
        return out


_KIND_TEXT = {"key": "a private key entry", "trusted": "a trusted certificate",
              "untrusted": "a certificate Java does not trust (no trusted-key-usage attribute)"}


# --- expected content -------------------------------------------------------------------------

def expected_keystore(alias: str, key: PrivateKey, chain: list[x509.Certificate]) -> StoreContent:
    return StoreContent((StoreEntry(alias, "key", pki.spki_fingerprint(key),
                                    tuple(pki.cert_fingerprint(c) for c in chain)),))


def expected_truststore(certs: list[tuple[str, x509.Certificate]]) -> StoreContent:
    return StoreContent(tuple(StoreEntry(alias, "trusted", None, (pki.cert_fingerprint(cert),))
                              for alias, cert in certs))


# --- writing ----------------------------------------------------------------------------------

def keystore_bytes(fmt: str, *, profile: str = "modern", alias: str, key: PrivateKey,
                   chain: list[x509.Certificate], password: str) -> bytes:
    """A keystore holding one private key entry `alias` with its chain (leaf first, then intermediates).

    The key is protected by the store password too: Kafka's ssl.key.password is given the same
    value, and Java's PKCS12 KeyManagerFactory needs the two to be equal.
    """
    if not chain:
        raise ValueError("a keystore needs at least the leaf certificate")
    return _writer(_KEYSTORE_WRITERS, fmt)(profile=profile, alias=alias, key=key, chain=chain, password=password)


def truststore_bytes(fmt: str, *, profile: str = "modern", certs: list[tuple[str, x509.Certificate]],
                     password: str | None) -> bytes:
    """A truststore with one trusted certificate entry per (alias, certificate), in order."""
    return _writer(_TRUSTSTORE_WRITERS, fmt)(profile=profile, certs=certs, password=password)


def pem_keystore_bytes(key: PrivateKey, chain: list[x509.Certificate], password: str) -> bytes:
    """Kafka's ssl.keystore.type=PEM file: the encrypted PKCS#8 key, then the chain, leaf first.

    The key is encrypted so Kafka's PemStore can decrypt it on Java 17 (see pki.encrypted_key_pem).
    """
    return pki.encrypted_key_pem(key, password) + b"".join(pki.cert_pem(c) for c in chain)


def _writer(table: dict[str, Callable[..., bytes]], fmt: str) -> Callable[..., bytes]:
    if fmt not in table:
        raise ValueError(f"unknown store format {fmt!r}; expected one of {', '.join(table)}")
    return table[fmt]


def _pkcs12_encryption(profile: str, password: str) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(pki.PBE_ITERATIONS)
    if profile == "modern":  # what Java 17 and OpenSSL 3 write by default
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    elif profile == "legacy":
        # For Java 8 before 8u301 and OpenSSL 1.x, which know neither PBES2 nor a SHA-256 MAC.
        # 3DES, never RC2-40: OpenSSL 3 reads RC2 only with its legacy provider.
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    else:
        raise ValueError(f"unknown PKCS12 profile {profile!r}; expected one of {', '.join(PKCS12_PROFILES)}")
    return builder.build(password.encode())


def _pkcs12_keystore(*, profile, alias, key, chain, password) -> bytes:
    return pkcs12.serialize_key_and_certificates(alias.encode(), key, chain[0], chain[1:] or None,
                                                 _pkcs12_encryption(profile, password))


def _pkcs12_truststore(*, profile, certs, password) -> bytes:
    # serialize_java_truststore gives every certificate bag Java's trusted-key-usage attribute
    # (OID 2.16.840.1.113894.746875.1.1); without it Java's PKCS12 loader skips certificates that
    # have no key, and the truststore looks empty ("the trustAnchors parameter must be non-empty").
    # It takes the same encryption builder as keystores, so both profiles work for truststores.
    return pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(cert, alias.encode()) for alias, cert in certs],
                                            _pkcs12_encryption(profile, password))


def _jks_keystore(*, profile, alias, key, chain, password) -> bytes:
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    entry = jks.PrivateKeyEntry.new(alias, [c.public_bytes(serialization.Encoding.DER) for c in chain], pkcs8,
                                    key_format="pkcs8")
    # pyjks encrypts every key entry with the store password as it saves (KeyStore.saves).
    return jks.KeyStore.new("jks", [entry]).saves(password)


def _jks_truststore(*, profile, certs, password) -> bytes:
    entries = [jks.TrustedCertEntry.new(alias, cert.public_bytes(serialization.Encoding.DER)) for alias, cert in certs]
    return jks.KeyStore.new("jks", entries).saves(password)


def _pem_keystore(*, profile, alias, key, chain, password) -> bytes:
    return pem_keystore_bytes(key, chain, password)


def _pem_truststore(*, profile, certs, password) -> bytes:
    return b"".join(pki.cert_pem(cert) for _, cert in certs)


_KEYSTORE_WRITERS = {"pkcs12": _pkcs12_keystore, "jks": _jks_keystore, "pem": _pem_keystore}
_TRUSTSTORE_WRITERS = {"pkcs12": _pkcs12_truststore, "jks": _jks_truststore, "pem": _pem_truststore}


# --- reading ----------------------------------------------------------------------------------

def read_keystore(fmt: str, data: bytes, password: str | None) -> StoreContent:
    """What a keystore holds. PEM keystores get Kafka's alias "kafka"; StoreError when unreadable."""
    if fmt == "pem":
        return _read_pem_keystore(data, password)
    return _read_store(fmt, data, password)


def read_truststore(fmt: str, data: bytes, password: str | None) -> StoreContent:
    """What a truststore holds. PEM bundles get Kafka's aliases "kafka0", "kafka1", ..."""
    if fmt == "pem":
        try:
            certs = pki.load_certs(data)
        except ValueError as exc:
            raise StoreError(f"not a PEM certificate bundle ({exc})") from None
        return StoreContent(tuple(StoreEntry(PEM_TRUSTED_ALIAS.format(i), "trusted", None, (pki.cert_fingerprint(c),))
                                  for i, c in enumerate(certs)))
    return _read_store(fmt, data, password)


def pem_keystore_holds(data: bytes, password: str, key: PrivateKey, chain: list[x509.Certificate]) -> bool:
    """Does a PEM keystore open with `password` and hold exactly this key and chain?"""
    try:
        return read_keystore("pem", data, password) == expected_keystore(PEM_KEY_ALIAS, key, chain)
    except StoreError:
        return False


def _read_store(fmt: str, data: bytes, password: str | None) -> StoreContent:
    if not password:
        raise StoreError("a password is needed to check the store's integrity")
    if fmt == "pkcs12":
        return _read_pkcs12(data, password)
    if fmt == "jks":
        return _read_jks(data, password)
    raise ValueError(f"unknown store format {fmt!r}; expected one of {', '.join(STORE_FORMATS)}")


def _read_pem_keystore(data: bytes, password: str | None) -> StoreContent:
    try:
        key = pki.load_key(data, password)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"the private key does not open with this password ({exc})") from None
    try:
        chain = pki.load_certs(data)
    except ValueError:
        raise StoreError("no certificate after the private key") from None
    return expected_keystore(PEM_KEY_ALIAS, key, chain)


def _read_jks(data: bytes, password: str) -> StoreContent:
    try:
        store = jks.KeyStore.loads(data, password)
    except jks.util.KeystoreSignatureException:
        raise StoreError("wrong password (the JKS integrity check fails)") from None
    except jks.util.KeystoreException as exc:
        raise StoreError(f"not a JKS keystore ({exc})") from None
    entries = []
    for alias, entry in store.entries.items():
        if isinstance(entry, jks.TrustedCertEntry):
            entries.append(StoreEntry(alias, "trusted", None, (_der_fingerprint(entry.cert),)))
        elif isinstance(entry, jks.PrivateKeyEntry):
            if not entry.is_decrypted():
                # pyjks tries the store password on every key; Kafka passes that same value as
                # ssl.key.password, so a key it does not open is a key Kafka cannot use.
                raise StoreError(f"the key of entry '{alias}' does not open with the store password")
            key = serialization.load_der_private_key(entry.pkey_pkcs8, None)
            entries.append(StoreEntry(alias, "key", pki.spki_fingerprint(key),
                                      tuple(_der_fingerprint(der) for _, der in entry.cert_chain)))
        else:
            raise StoreError(f"entry '{alias}' is a secret key, which a TLS store does not hold")
    return StoreContent(tuple(entries))


def _read_pkcs12(data: bytes, password: str) -> StoreContent:
    try:
        loaded = pkcs12.load_pkcs12(data, password.encode())
    except ValueError:
        raise StoreError("wrong password, or not a PKCS12 file") from None
    try:
        trusted = _pkcs12_java_trusted(data, password)
    except StoreError:
        raise
    except (IndexError, ValueError) as exc:  # a layout load_pkcs12 accepts but this reader does not know
        raise StoreError(f"cannot see which certificates Java trusts in this PKCS12 file ({exc})") from None
    entries, chain = [], []
    for bag in loaded.additional_certs:
        fingerprint = pki.cert_fingerprint(bag.certificate)
        if fingerprint in trusted:
            entries.append(StoreEntry(_friendly(bag), "trusted", None, (fingerprint,)))
        elif loaded.key is not None:
            chain.append(fingerprint)  # Java completes the key entry's chain from these
        else:
            entries.append(StoreEntry(_friendly(bag), "untrusted", None, (fingerprint,)))
    if loaded.key is not None:
        if loaded.cert is None:
            raise StoreError("the private key has no certificate")
        entries.append(StoreEntry(_friendly(loaded.cert), "key", pki.spki_fingerprint(loaded.key),
                                  (pki.cert_fingerprint(loaded.cert.certificate), *chain)))
    return StoreContent(tuple(entries))


def _friendly(bag: pkcs12.PKCS12Certificate) -> str:
    return bag.friendly_name.decode("utf-8", "replace") if bag.friendly_name else ""


def _der_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


# --- Java's trusted-key-usage attribute inside PKCS12 ------------------------------------------
#
# cryptography's load_pkcs12 does not return bag attributes other than the friendly name, so this
# walks the PKCS#12 structure (RFC 7292) itself to see which certificate bags carry the attribute
# Java needs. Only what tlsgen reads is decoded: DER, PBES2 (PBKDF2 + AES-CBC) and the PKCS#12
# PBE with 3DES. The password has already passed the MAC check in load_pkcs12.

JAVA_TRUSTED_KEY_USAGE = "2.16.840.1.113894.746875.1.1"
_TRUSTED = asn1.oid(JAVA_TRUSTED_KEY_USAGE)
_DATA = asn1.oid("1.2.840.113549.1.7.1")
_ENCRYPTED_DATA = asn1.oid("1.2.840.113549.1.7.6")
_CERT_BAG = asn1.oid("1.2.840.113549.1.12.10.1.3")
_X509_CERT = asn1.oid("1.2.840.113549.1.9.22.1")
_PBES2 = asn1.oid("1.2.840.113549.1.5.13")
_PBKDF2 = asn1.oid("1.2.840.113549.1.5.12")
_PRFS = {asn1.oid("1.2.840.113549.2.7"): hashes.SHA1, asn1.oid("1.2.840.113549.2.9"): hashes.SHA256,
         asn1.oid("1.2.840.113549.2.10"): hashes.SHA384, asn1.oid("1.2.840.113549.2.11"): hashes.SHA512}
_AES_CBC = {asn1.oid("2.16.840.1.101.3.4.1.2"): 16, asn1.oid("2.16.840.1.101.3.4.1.22"): 24,
            asn1.oid("2.16.840.1.101.3.4.1.42"): 32}


def _pkcs12_java_trusted(data: bytes, password: str) -> set[str]:
    """Fingerprints of the certificates whose bag carries Java's trusted-key-usage attribute."""
    pfx = asn1.fields(asn1.inner(data))  # PFX: version, authSafe, macData
    content_type, content = asn1.fields(pfx[1][1])
    if content_type[1] != _DATA:
        raise StoreError("a PKCS12 store signed with a public key, which tlsgen does not read")
    trusted = set()
    for _, info in asn1.items(asn1.inner(asn1.inner(content[1]))):  # AuthenticatedSafe: ContentInfo, ...
        (_, kind), (_, body) = asn1.fields(info)
        if kind == _DATA:
            safe_contents = asn1.inner(body)  # [0] EXPLICIT OCTET STRING holding SafeContents
        elif kind == _ENCRYPTED_DATA:
            safe_contents = _decrypt_content(asn1.inner(body), password)
        else:
            continue  # enveloped data: no certificates tlsgen could have written
        for _, bag in asn1.items(asn1.inner(safe_contents)):
            parts = asn1.fields(bag)  # bagId, [0] bagValue, bagAttributes
            if parts[0][1] != _CERT_BAG:
                continue
            cert_id, cert_value = asn1.fields(asn1.inner(parts[1][1]))
            if cert_id[1] != _X509_CERT:
                continue
            attributes = [asn1.fields(a)[0][1] for _, a in asn1.items(parts[2][1])] if len(parts) > 2 else []
            if _TRUSTED in attributes:
                trusted.add(_der_fingerprint(asn1.inner(cert_value[1])))
    return trusted


def _decrypt_content(encrypted_data: bytes, password: str) -> bytes:
    """EncryptedData (version, EncryptedContentInfo) → the plaintext SafeContents."""
    _, content_info = asn1.fields(encrypted_data)
    _, algorithm, (tag, encrypted) = asn1.fields(content_info[1])[:3]
    if tag == 0xA0:  # constructed [0]: the ciphertext in several OCTET STRING pieces
        encrypted = b"".join(piece for _, piece in asn1.items(encrypted))
    (_, oid), (_, params) = asn1.fields(algorithm[1])
    if oid == pki.PBE_SHA1_3DES_OID:
        (_, salt), (_, count) = asn1.fields(params)
        iterations = int.from_bytes(count, "big")
        key = pki.pkcs12_pbe_key(password, salt, iterations, purpose=1, size=24)
        iv = pki.pkcs12_pbe_key(password, salt, iterations, purpose=2, size=8)
        cipher, block = Cipher(TripleDES(key), modes.CBC(iv)), 64
    elif oid == _PBES2:
        (_, kdf), (_, scheme) = asn1.fields(params)
        (_, kdf_oid), (_, kdf_params) = asn1.fields(kdf)
        (_, enc_oid), (_, iv) = asn1.fields(scheme)
        if kdf_oid != _PBKDF2 or enc_oid not in _AES_CBC:
            raise StoreError("PBES2 with a cipher other than AES-CBC, which tlsgen does not read")
        kdf_fields = asn1.fields(kdf_params)
        salt, iterations = kdf_fields[0][1], int.from_bytes(kdf_fields[1][1], "big")
        prf = hashes.SHA1
        for tag, value in kdf_fields[2:]:
            if tag == 0x30:  # the PRF AlgorithmIdentifier (keyLength, an INTEGER, is implied by the cipher)
                prf = _PRFS.get(asn1.fields(value)[0][1], prf)
        key = PBKDF2HMAC(prf(), _AES_CBC[enc_oid], salt, iterations).derive(password.encode())
        cipher, block = Cipher(algorithms.AES(key), modes.CBC(iv)), 128
    else:
        raise StoreError("certificates encrypted with an algorithm tlsgen does not read (such as RC2-40)")
    decryptor = cipher.decryptor()
    unpadder = padding.PKCS7(block).unpadder()
    try:
        return unpadder.update(decryptor.update(encrypted) + decryptor.finalize()) + unpadder.finalize()
    except ValueError:
        raise StoreError("the certificates do not decrypt with this password") from None
