"""Keys and certificates: generated, issued, serialised and fingerprinted. No I/O, no clock.

trustme's shape: one shared builder gives every certificate its subject, issuer, serial, validity
window and key identifiers; `issue_ca` and `issue_leaf` add their own extensions on top, each with
its `critical=` flag spelled out. The current time is always a parameter.
"""

from __future__ import annotations

import hashlib
import ipaddress
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta, timezone
from typing import Union

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..model import KEY_TYPES, Subject
from . import asn1

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]
PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey]

_CURVES = {"ec-p256": ec.SECP256R1, "ec-p384": ec.SECP384R1}
_CURVE_NAMES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}

NAME_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}
USAGE_OIDS = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}

# Certificates start an hour early so that a consumer whose clock lags a little still accepts them.
CLOCK_SKEW = timedelta(hours=1)
# PBKDF iterations for encrypted keys and PKCS12 stores: Java 17's own default for PKCS12.
PBE_ITERATIONS = 10_000
# pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix C), DER-encoded: 1.2.840.113549.1.12.1.3.
PBE_SHA1_3DES_OID = bytes.fromhex("2a864886f70d010c0103")


# --- keys -------------------------------------------------------------------------------------

def generate_key(key_type: str) -> PrivateKey:
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type]())
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")


def _generate_key_pem(key_type: str) -> bytes:
    """Runs in a worker process: keys cross the process boundary as PKCS#8 PEM."""
    return key_pem(generate_key(key_type))


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Rough single-core seconds per RSA key (prime search varies a lot), and the start-up cost of a
# pool of fresh interpreters: below that much work, worker processes only slow things down.
_RSA_SECONDS = {"rsa-2048": 0.06, "rsa-3072": 0.25, "rsa-4096": 0.8}
_POOL_STARTUP_SECONDS = 0.6


def generate_keys(key_types: list[str], *, processes: int | None = None) -> list[PrivateKey]:
    """One new key per type, in the same order; RSA keys are made on every core when there are several.

    RSA prime search is the only slow step of an apply (a 4096-bit key can take a second or more),
    so several RSA keys are generated in worker processes when that saves time. EC keys take
    microseconds and are always made here. `processes` forces the number of workers (tests).
    """
    for key_type in key_types:
        if key_type not in KEY_TYPES:
            raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")
    keys: list[PrivateKey | None] = [None] * len(key_types)
    rsa_slots = [i for i, t in enumerate(key_types) if t in _RSA_SECONDS]
    if processes is None:
        work = sum(_RSA_SECONDS[key_types[i]] for i in rsa_slots)
        processes = min(_cpu_count(), len(rsa_slots)) if work > 2 * _POOL_STARTUP_SECONDS else 1
    if processes > 1 and rsa_slots:
        try:
            # spawn, not fork: the caller (watch mode) may have threads, and a forked child can
            # inherit a lock that another thread held at the moment of the fork.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
                pems = list(pool.map(_generate_key_pem, [key_types[i] for i in rsa_slots]))
            for i, pem in zip(rsa_slots, pems):
                keys[i] = load_key(pem, trusted=True)  # made by our own worker just now
        except (OSError, NotImplementedError, BrokenProcessPool):
            pass  # no worker processes here (a sandbox, no /dev/shm): the loop below makes them all
    for i, key_type in enumerate(key_types):
        if keys[i] is None:
            keys[i] = generate_key(key_type)
    return keys  # type: ignore[return-value]


def key_type_of(key: PrivateKey | PublicKey) -> str:
    """The spec's key type ("rsa-2048", "ec-p256", ...) of a private or public key."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"rsa-{key.key_size}"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return _CURVE_NAMES.get(key.curve.name, f"ec-{key.curve.name}")
    raise ValueError(f"unsupported key type {type(key).__name__}")


def key_pem(key: PrivateKey) -> bytes:
    """PKCS#8, unencrypted ("BEGIN PRIVATE KEY")."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def encrypted_key_pem(key: PrivateKey, password: str, *, iterations: int = PBE_ITERATIONS) -> bytes:
    """PKCS#8 encrypted with pbeWithSHAAnd3-KeyTripleDES-CBC ("BEGIN ENCRYPTED PRIVATE KEY").

    Why not PBES2/AES, which `BestAvailableEncryption` writes: Kafka's PEM keystore
    (DefaultSslEngineFactory.PemStore.privateKey) decrypts with
    `SecretKeyFactory.getInstance(EncryptedPrivateKeyInfo.getAlgName())`, and Java 17 names every
    PBES2 key "PBES2", for which no SecretKeyFactory exists ("PBES2 SecretKeyFactory not
    available", JDK-8231581). The PKCS#12 PBE algorithm is "PBEWithSHA1AndDESede" there, which
    every JDK from 8 on implements; it is also what Kafka's own tests use (TestSslUtils:
    PKCS8Generator.PBE_SHA1_3DES). OpenSSL, librdkafka and cryptography all read it.
    """
    salt = os.urandom(16)
    des_key = pkcs12_pbe_key(password, salt, iterations, purpose=1, size=24)
    iv = pkcs12_pbe_key(password, salt, iterations, purpose=2, size=8)
    padder = padding.PKCS7(64).padder()
    plain = padder.update(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())) + padder.finalize()
    encryptor = Cipher(TripleDES(des_key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(plain) + encryptor.finalize()
    algorithm = asn1.der(0x30, asn1.der(0x06, PBE_SHA1_3DES_OID) + asn1.der(0x30, asn1.der(0x04, salt) + asn1.der_int(iterations)))
    info = asn1.der(0x30, algorithm + asn1.der(0x04, encrypted))
    return asn1.pem("ENCRYPTED PRIVATE KEY", info)


def load_key(pem: bytes, password: str | None = None, *, trusted: bool = False) -> PrivateKey:
    """A private key from PEM (PKCS#8, encrypted or not, or traditional); ValueError if unusable.

    `trusted`: tlsgen made this key, or already checked it in this run. Checking an RSA key's
    consistency costs ~70 ms a key (OpenSSL's RSA_check_key); a key from outside always gets it."""
    try:
        key = serialization.load_pem_private_key(pem, password.encode() if password is not None else None,
                                                 unsafe_skip_rsa_key_validation=trusted)
    except TypeError as exc:  # cryptography's word for a password given to a plain key, or missing
        raise ValueError(str(exc)) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"unsupported key type {type(key).__name__}; tlsgen uses RSA and EC keys")
    return key


def pkcs12_pbe_key(password: str, salt: bytes, iterations: int, *, purpose: int, size: int) -> bytes:
    """RFC 7292 B.2 key derivation with SHA-1: purpose 1 gives a cipher key, 2 an IV, 3 a MAC key.

    cryptography has no public PKCS#12 KDF; this follows the RFC step by step (u=20, v=64). Used to
    write encrypted_key_pem and to read legacy (3DES) PKCS12 stores.
    """
    u, v = 20, 64
    diversifier = bytes([purpose]) * v
    bmp_password = password.encode("utf-16-be") + b"\0\0"  # BMPString, NUL-terminated

    def fill(data: bytes) -> bytes:  # copies of data up to the next multiple of v bytes
        n = v * -(-len(data) // v)
        return (data * (n // len(data) + 1))[:n] if data else b""

    block = fill(salt) + fill(bmp_password)
    out = b""
    while len(out) < size:
        digest = hashlib.sha1(diversifier + block).digest()
        for _ in range(iterations - 1):
            digest = hashlib.sha1(digest).digest()
        out += digest
        b = int.from_bytes((digest * (v // u + 1))[:v], "big") + 1
        block = b"".join(((int.from_bytes(block[j:j + v], "big") + b) % (1 << (8 * v))).to_bytes(v, "big")
                         for j in range(0, len(block), v))
    return out[:size]


# --- fingerprints -----------------------------------------------------------------------------

def spki_fingerprint(obj: PrivateKey | PublicKey | x509.Certificate) -> str:
    """Hex SHA-256 of the SubjectPublicKeyInfo: equal for a key, its public key and its certificates."""
    if isinstance(obj, x509.Certificate):
        public = obj.public_key()
    elif isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        public = obj.public_key()
    else:
        public = obj
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def cert_fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's DER (what `openssl x509 -fingerprint -sha256` shows)."""
    return cert.fingerprint(hashes.SHA256()).hex()


# --- certificates -----------------------------------------------------------------------------

def name_of(subject: Subject) -> x509.Name:
    """The x509 Name for a model Subject, attributes in the order given (C, ST, L, O, OU, CN)."""
    return x509.Name([x509.NameAttribute(NAME_OIDS[short], value) for short, value in subject])


def _utc(moment: datetime) -> datetime:
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.replace(microsecond=0)


def _signature_hash(signing_key: PrivateKey) -> hashes.HashAlgorithm:
    # A P-384 key signs with SHA-384 (the hash sized to the curve, as RFC 5480 and CNSA pair them).
    if isinstance(signing_key, ec.EllipticCurvePrivateKey) and signing_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _cert_builder_common(*, subject: Subject, public_key: PublicKey, issuer_cert: x509.Certificate | None,
                         signing_key: PrivateKey, validity: timedelta, now: datetime) -> x509.CertificateBuilder:
    """What every certificate has: names, serial, validity window, key identifiers."""
    now = _utc(now)
    not_after = now + validity
    if issuer_cert is not None:
        # A certificate cannot outlive its issuer: chains are checked at every link.
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    name = name_of(subject)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())  # 159 random bits, positive
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
                       critical=False)
    )


def _key_usage(*, digital_signature: bool = False, key_encipherment: bool = False,
               key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue_ca(*, subject: Subject, key: PrivateKey, issuer_cert: x509.Certificate | None = None,
             issuer_key: PrivateKey | None = None, path_length: int | None, validity: timedelta,
             now: datetime) -> x509.Certificate:
    """A self-signed root (no issuer) or an intermediate CA signed by issuer_cert/issuer_key."""
    if (issuer_cert is None) != (issuer_key is None):
        raise ValueError("issuer_cert and issuer_key go together")
    signing_key = issuer_key if issuer_key is not None else key
    builder = (
        _cert_builder_common(subject=subject, public_key=key.public_key(), issuer_cert=issuer_cert,
                             signing_key=signing_key, validity=validity, now=now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
    )
    return builder.sign(signing_key, _signature_hash(signing_key))


def issue_leaf(*, subject: Subject, public_key: PublicKey, issuer_cert: x509.Certificate, issuer_key: PrivateKey,
               hostnames: tuple[str, ...] | list[str] = (), ip_addresses: tuple[str, ...] | list[str] = (),
               usages: tuple[str, ...], validity: timedelta, now: datetime) -> x509.Certificate:
    """An end-entity certificate for TLS; usages are "serverAuth" and/or "clientAuth"."""
    unknown = [u for u in usages if u not in USAGE_OIDS]
    if unknown or not usages:
        raise ValueError(f"usages must be serverAuth and/or clientAuth, not {list(usages)}")
    builder = (
        _cert_builder_common(subject=subject, public_key=public_key, issuer_cert=issuer_cert,
                             signing_key=issuer_key, validity=validity, now=now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # RSA key exchange (TLS 1.2 without (EC)DHE) encrypts to the key: keyEncipherment. EC keys
        # only sign; keyEncipherment on them is invalid (RFC 5480) and some clients reject it.
        .add_extension(_key_usage(digital_signature=True,
                                  key_encipherment=isinstance(public_key, rsa.RSAPublicKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([USAGE_OIDS[u] for u in usages]), critical=False)
    )
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if names:
        # Not critical: the subject is not empty (RFC 5280 4.2.1.6 makes it critical only then).
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, _signature_hash(issuer_key))


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def load_certs(pem: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, in file order; ValueError when there is none."""
    return x509.load_pem_x509_certificates(pem)


# --- reading a certificate --------------------------------------------------------------------

_SHORT_NAMES = {oid: short for short, oid in NAME_OIDS.items()}
_USAGE_NAMES = {oid: name for name, oid in USAGE_OIDS.items()}


def subject_of(cert: x509.Certificate) -> Subject:
    return tuple((_SHORT_NAMES.get(a.oid, a.oid.dotted_string), str(a.value)) for a in cert.subject)


def sans_of(cert: x509.Certificate) -> tuple[str, ...]:
    """"DNS:name" and "IP:address" for each subject alternative name, as OpenSSL shows them."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple([f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)]
                 + [f"IP:{ip}" for ip in ext.get_values_for_type(x509.IPAddress)])


def usages_of(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(_USAGE_NAMES.get(oid, oid.dotted_string) for oid in ext)


def basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
