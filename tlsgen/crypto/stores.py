"""Keystores and truststores: built from one key/chain (or certificate list) input, chosen by format
name, and read back as a `StoreContent` so they are compared by what they hold, never by bytes
(every write has fresh salts, IVs and, for JKS, timestamps).

Formats: "pkcs12" (profile "modern" or "legacy"), "jks", and "pem" (Kafka's ssl.keystore.type=PEM:
an encrypted PKCS#8 key then the chain; the PEM truststore is the ca.pem bundle).
"""

from __future__ import annotations

import hashlib
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ..model.topology import STORE_FORMATS
from . import pfx, pki, workers
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
                   chain: list[x509.Certificate], password: str, iterations: int = pki.PBE_ITERATIONS,
                   mac_iterations: int = pki.MAC_ITERATIONS) -> bytes:
    """A keystore holding one private key entry `alias` with its chain (leaf first, then intermediates).

    The key is protected by the store password too: Kafka's ssl.key.password is given the same
    value, and Java's PKCS12 KeyManagerFactory needs the two to be equal. `iterations`: of the
    PBKDF for PKCS12 bags and the PEM key (`pki.iterations_for`); JKS has none. `mac_iterations`:
    of a modern PKCS12 store's MAC (`pki.mac_iterations_for`); legacy ones get cryptography's 2048.
    """
    if not chain:
        raise ValueError("a keystore needs at least the leaf certificate")
    return _writer(_KEYSTORE_WRITERS, fmt)(profile=profile, alias=alias, key=key, chain=chain, password=password,
                                           iterations=iterations, mac_iterations=mac_iterations)


def truststore_bytes(fmt: str, *, profile: str = "modern", certs: list[tuple[str, x509.Certificate]],
                     password: str | None, iterations: int = pki.PBE_ITERATIONS,
                     mac_iterations: int = pki.MAC_ITERATIONS) -> bytes:
    """A truststore with one trusted certificate entry per (alias, certificate), in order."""
    return _writer(_TRUSTSTORE_WRITERS, fmt)(profile=profile, certs=certs, password=password, iterations=iterations,
                                             mac_iterations=mac_iterations)


def pem_keystore_bytes(key: PrivateKey, chain: list[x509.Certificate], password: str, *,
                       iterations: int = pki.PBE_ITERATIONS) -> bytes:
    """Kafka's ssl.keystore.type=PEM file: the encrypted PKCS#8 key, then the chain, leaf first.

    The key is encrypted so Kafka's PemStore can decrypt it on Java 17 (see pki.encrypted_key_pem).
    """
    return pki.encrypted_key_pem(key, password, iterations=iterations) + b"".join(pki.cert_pem(c) for c in chain)


class StoreJob(NamedTuple):
    """One store to build: the arguments of keystore_bytes (certs None) or truststore_bytes (key None)."""

    fmt: str
    password: str | None
    profile: str = "modern"
    iterations: int = pki.PBE_ITERATIONS
    mac_iterations: int = pki.MAC_ITERATIONS
    alias: str = ""
    key: PrivateKey | None = None
    chain: list[x509.Certificate] | None = None
    certs: list[tuple[str, x509.Certificate]] | None = None

    def build(self) -> bytes:
        if self.certs is not None:
            return truststore_bytes(self.fmt, profile=self.profile, certs=self.certs, password=self.password,
                                    iterations=self.iterations, mac_iterations=self.mac_iterations)
        return keystore_bytes(self.fmt, profile=self.profile, alias=self.alias, key=self.key, chain=self.chain or [],
                              password=self.password or "", iterations=self.iterations,
                              mac_iterations=self.mac_iterations)


# Below this much estimated work (single-core seconds) the stores are built in this process. Measured
# with bench/crypto.py (2 cores, the planner imported as in an apply), a generated password's pkcs12
# stores (1000 iterations, MAC 1), here / 2 forked workers: 20 stores 0.007 / 0.013 s, 50 0.017 /
# 0.021, 106 0.036 / 0.033, 1000 0.34 / 0.25. In a whole apply the workers do better than that shows,
# as the apply builds and stages its other files meanwhile (building), and worse, as both processes
# then take a page fault for each page they write. A whole cold apply with the stores built here took
# this many times its time with forked workers (paired runs, 2026-12-03): 10 clients (26 stores,
# estimate 0.008 s) 1.00×, 25 (56 stores, 0.017 s) 1.01×, 50 (106 stores, 0.033 s) 1.05×.
_PARALLEL_MIN_SECONDS = 0.02


def build_many(jobs: Sequence[StoreJob], *, processes: int | None = None) -> list[bytes]:
    """The bytes of every store, in order; on every core when the batch is large enough (building)."""
    with building(jobs, processes=processes) as built:
        return built()


@contextmanager
def building(jobs: Sequence[StoreJob], *, processes: int | None = None) -> Iterator[Callable[[], list[bytes]]]:
    """The stores, started at once on forked workers when the batch is large enough, while this
    process goes on (apply builds and stages the other files meanwhile); the value of the `with`
    waits for their bytes, in order. Otherwise they are built here, when asked.

    cryptography holds the GIL while it derives PKCS12 keys (two threads: 1.0× one), so the
    second core needs a second process: forked workers (workers.map_in_background), which already
    hold the keys and certificates, so only the finished stores cross a pipe. With threads in this
    process (watch mode, RSA keys being made) they are built here, one after the other. Unknown
    formats or profiles raise here, before any worker starts; what a worker fails on is built again
    here, to raise here. `processes` forces the number of workers (tests).
    """
    for job in jobs:
        _writer(_KEYSTORE_WRITERS if job.certs is None else _TRUSTSTORE_WRITERS, job.fmt)
        if job.fmt == "pkcs12" and job.profile not in PKCS12_PROFILES:
            raise ValueError(f"unknown PKCS12 profile {job.profile!r}; expected one of {', '.join(PKCS12_PROFILES)}")
    if processes is None:
        work = sum(_seconds_to_build(job) for job in jobs)
        processes = workers.cpu_count() if work >= _PARALLEL_MIN_SECONDS and workers.can_fork() else 1
    with ExitStack() as stack:
        started = None
        if processes > 1 and len(jobs) > 1 and workers.can_fork():
            try:
                started = stack.enter_context(workers.map_in_background(StoreJob.build, jobs, processes))
            except workers.WorkerError:
                pass  # no worker processes here (a sandbox, a limit on processes): built when asked

        def built() -> list[bytes]:
            if started is not None:
                try:
                    return started()
                except workers.WorkerError:
                    pass  # build them here instead (and raise here what a worker could only report)
            return [job.build() for job in jobs]

        yield built


def _seconds_to_build(job: StoreJob) -> float:
    """Rough single-core seconds for one store, to decide on workers. bench/crypto.py's figures fit
    a fixed part (0.4 ms where cryptography writes the store, most of it its MAC; 0.12 ms where
    pfx.py does) plus, per encrypted bag and 1000 iterations, 0.125 ms (PBES2) or 0.57 ms (3DES)."""
    if job.fmt == "jks":
        return 0.0003 if job.certs is None else 0.00002
    if job.fmt == "pem" and job.certs is not None:
        return 0.00002
    # PKCS12 bags and the PEM key: a fixed part, and the key derivation's iterations (per 1000).
    fixed = 0.00012 if job.fmt == "pkcs12" and _written_here(job.profile, job.mac_iterations) else 0.0004
    per_1000 = 0.00057 if job.profile == "legacy" or job.fmt == "pem" else 0.000125
    bags = 1 if job.fmt == "pem" or job.certs is not None else 2
    return fixed + bags * per_1000 * job.iterations / 1000


def _writer(table: dict[str, Callable[..., bytes]], fmt: str) -> Callable[..., bytes]:
    if fmt not in table:
        raise ValueError(f"unknown store format {fmt!r}; expected one of {', '.join(table)}")
    return table[fmt]


def _pkcs12_encryption(profile: str, password: str, iterations: int) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(iterations)
    if profile == "modern":  # what Java 17 and OpenSSL 3 write by default
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    elif profile == "legacy":
        # For Java 8 before 8u301 and OpenSSL 1.x, which know neither PBES2 nor a SHA-256 MAC.
        # 3DES, never RC2-40: OpenSSL 3 reads RC2 only with its legacy provider.
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
    else:
        raise ValueError(f"unknown PKCS12 profile {profile!r}; expected one of {', '.join(PKCS12_PROFILES)}")
    return builder.build(password.encode())


def _pkcs12_keystore(*, profile, alias, key, chain, password, iterations, mac_iterations) -> bytes:
    if _written_here(profile, mac_iterations):
        return pfx.keystore(alias, pki.key_der(key), [c.public_bytes(serialization.Encoding.DER) for c in chain],
                            password, iterations=iterations, mac_iterations=mac_iterations)
    return pkcs12.serialize_key_and_certificates(alias.encode(), key, chain[0], chain[1:] or None,
                                                 _pkcs12_encryption(profile, password, iterations))


def _pkcs12_truststore(*, profile, certs, password, iterations, mac_iterations) -> bytes:
    # Every certificate bag carries Java's trusted-key-usage attribute (pfx.JAVA_TRUSTED_KEY_USAGE;
    # serialize_java_truststore adds it too): without it Java's PKCS12 loader skips certificates that
    # have no key, and the truststore looks empty ("the trustAnchors parameter must be non-empty").
    # cryptography's takes the same encryption builder as keystores, so both profiles work for truststores.
    if _written_here(profile, mac_iterations):
        return pfx.truststore([(alias, cert.public_bytes(serialization.Encoding.DER)) for alias, cert in certs],
                              password, iterations=iterations, mac_iterations=mac_iterations)
    return pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(cert, alias.encode()) for alias, cert in certs],
                                            _pkcs12_encryption(profile, password, iterations))


def _written_here(profile: str, mac_iterations: int) -> bool:
    """cryptography writes every MAC with 2048 iterations (pki.MAC_ITERATIONS): a modern store whose MAC
    takes another count is written by pfx.py. Legacy stores stay cryptography's (their 3DES bags would
    take the PKCS#12 key derivation in Python, slower than theirs in Rust)."""
    return profile == "modern" and mac_iterations != pki.MAC_ITERATIONS


def _jks():
    # pyjks pulls in pycryptodome's hash modules: ~0.1-0.2 s of imports that only JKS stores need.
    import jks

    return jks


def _jks_keystore(*, profile, alias, key, chain, password, iterations, mac_iterations) -> bytes:
    jks = _jks()
    chain_der = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    entry = jks.PrivateKeyEntry.new(alias, chain_der, pki.key_der(key), key_format="pkcs8")
    # pyjks encrypts every key entry with the store password as it saves (KeyStore.saves).
    return jks.KeyStore.new("jks", [entry]).saves(password)


def _jks_truststore(*, profile, certs, password, iterations, mac_iterations) -> bytes:
    jks = _jks()
    entries = [jks.TrustedCertEntry.new(alias, cert.public_bytes(serialization.Encoding.DER)) for alias, cert in certs]
    return jks.KeyStore.new("jks", entries).saves(password)


def _pem_keystore(*, profile, alias, key, chain, password, iterations, mac_iterations) -> bytes:
    return pem_keystore_bytes(key, chain, password, iterations=iterations)


def _pem_truststore(*, profile, certs, password, iterations, mac_iterations) -> bytes:
    return b"".join(pki.cert_pem(cert) for _, cert in certs)


_KEYSTORE_WRITERS = {"pkcs12": _pkcs12_keystore, "jks": _jks_keystore, "pem": _pem_keystore}
_TRUSTSTORE_WRITERS = {"pkcs12": _pkcs12_truststore, "jks": _jks_truststore, "pem": _pem_truststore}


# --- reading ----------------------------------------------------------------------------------

def read_keystore(fmt: str, data: bytes, password: str | None, *, ours: bool = False) -> StoreContent:
    """What a keystore holds. PEM keystores get Kafka's alias "kafka"; StoreError when unreadable.
    `ours`: tlsgen wrote these very bytes and no RSA key is expected in them (see pfx.read)."""
    if fmt == "pem":
        return _read_pem_keystore(data, password)
    return _read_store(fmt, data, password, ours)


def read_truststore(fmt: str, data: bytes, password: str | None, *, ours: bool = False) -> StoreContent:
    """What a truststore holds. PEM bundles get Kafka's aliases "kafka0", "kafka1", ...
    `ours`: tlsgen wrote these very bytes (see pfx.read)."""
    if fmt == "pem":
        try:
            certs = pki.load_certs(data)
        except ValueError as exc:
            raise StoreError(f"not a PEM certificate bundle ({exc})") from None
        return StoreContent(tuple(StoreEntry(PEM_TRUSTED_ALIAS.format(i), "trusted", None, (pki.cert_fingerprint(c),))
                                  for i, c in enumerate(certs)))
    return _read_store(fmt, data, password, ours)


def pem_keystore_holds(data: bytes, password: str, key: PrivateKey, chain: list[x509.Certificate]) -> bool:
    """Does a PEM keystore open with `password` and hold exactly this key and chain?"""
    try:
        return read_keystore("pem", data, password) == expected_keystore(PEM_KEY_ALIAS, key, chain)
    except StoreError:
        return False


def _read_store(fmt: str, data: bytes, password: str | None, ours: bool = False) -> StoreContent:
    if not password:
        raise StoreError("a password is needed to check the store's integrity")
    if fmt == "pkcs12":
        return _read_pkcs12(data, password, ours)
    if fmt == "jks":
        return _read_jks(data, password)
    raise ValueError(f"unknown store format {fmt!r}; expected one of {', '.join(STORE_FORMATS)}")


def _read_pem_keystore(data: bytes, password: str | None) -> StoreContent:
    try:
        key = pki.load_key(data, password, trusted=True)  # checked just below
    except (ValueError, TypeError) as exc:
        raise StoreError(f"the private key does not open with this password ({exc})") from None
    try:
        # Not RSA_check_key: ~0.02 ms instead of ~45 ms per rsa-2048 key (see pki.check_key_pair).
        pki.check_key_pair(key)
    except ValueError as exc:
        raise StoreError(f"the private key is broken ({exc})") from None
    try:
        chain = pki.load_certs(data)
    except ValueError:
        raise StoreError("no certificate after the private key") from None
    return expected_keystore(PEM_KEY_ALIAS, key, chain)


def _read_jks(data: bytes, password: str) -> StoreContent:
    jks = _jks()
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
            key = _working_key(entry.pkey_pkcs8, None, alias)
            entries.append(StoreEntry(alias, "key", pki.spki_fingerprint(key),
                                      tuple(_der_fingerprint(der) for _, der in entry.cert_chain)))
        else:
            raise StoreError(f"entry '{alias}' is a secret key, which a TLS store does not hold")
    return StoreContent(tuple(entries))


def _read_pkcs12(data: bytes, password: str, ours: bool = False) -> StoreContent:
    """What Java's PKCS12 keystore shows: one key entry, named by its key bag, with its chain; and
    the certificate bags that carry Java's trusted-key-usage attribute as trusted entries."""
    try:
        bags = pfx.read(data, password, openssl_mac=ours)  # the MAC is checked first
    except pfx.WrongPassword as exc:
        raise StoreError(str(exc)) from None
    except pfx.PFXError as exc:
        raise StoreError(f"not a PKCS12 file tlsgen reads ({exc})") from None
    key_bags = [b for b in bags if b.kind in ("key", "shrouded-key")]
    if len(key_bags) > 1:
        raise StoreError(f"{len(key_bags)} private keys; a Kafka keystore holds one")
    cert_bags = [b for b in bags if b.kind == "cert"]
    for bag in cert_bags:
        try:  # Java refuses the whole store over one certificate it cannot parse
            x509.load_der_x509_certificate(bag.value)
        except ValueError:
            raise StoreError(f"the certificate '{bag.friendly_name or ''}' is not an X.509 certificate") from None
    key = leaf = None
    if key_bags:
        (key_bag,) = key_bags
        # Java names a key entry by its key bag's friendlyName (cryptography gives both bags the alias).
        alias = key_bag.friendly_name or ""
        key = _working_key(key_bag.value, password if key_bag.kind == "shrouded-key" else None, alias)
        leaf = _leaf_of(key_bag, key, cert_bags)
    entries, chain = [], []
    for bag in cert_bags:
        if bag is leaf:
            continue
        fingerprint = _der_fingerprint(bag.value)
        if pfx.JAVA_TRUSTED_KEY_USAGE in bag.attributes:  # cryptography's load_pkcs12 does not show it
            entries.append(StoreEntry(bag.friendly_name or "", "trusted", None, (fingerprint,)))
        elif key is not None:
            chain.append(fingerprint)  # Java completes the key entry's chain from these
        else:
            entries.append(StoreEntry(bag.friendly_name or "", "untrusted", None, (fingerprint,)))
    if key is not None:
        entries.append(StoreEntry(alias or leaf.friendly_name or "", "key", pki.spki_fingerprint(key),
                                  (_der_fingerprint(leaf.value), *chain)))
    return StoreContent(tuple(entries))


def _working_key(der: bytes, password: str | None, alias: str) -> PrivateKey:
    """A key bag's key, checked by pki.check_key_pair rather than RSA_check_key (see pki.load_key)."""
    try:
        key = serialization.load_der_private_key(der, password.encode() if password is not None else None,
                                                 unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        raise StoreError(f"the key of entry '{alias}' does not open with the store password") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise StoreError(f"entry '{alias}' holds a {type(key).__name__}; tlsgen uses RSA and EC keys")
    try:
        pki.check_key_pair(key)
    except ValueError as exc:
        raise StoreError(f"the key of entry '{alias}' is broken ({exc})") from None
    return key


def _leaf_of(key_bag: pfx.SafeBag, key: PrivateKey, cert_bags: list[pfx.SafeBag]) -> pfx.SafeBag:
    """The key's certificate: the bag with the key's localKeyID, else the one with its public key
    (what OpenSSL's PKCS12_parse and Java's PKCS12KeyStore do)."""
    if key_bag.local_key_id is not None:
        for bag in cert_bags:
            if bag.local_key_id == key_bag.local_key_id:
                return bag
    spki = pki.spki_fingerprint(key)
    for bag in cert_bags:
        try:
            if pki.spki_fingerprint(x509.load_der_x509_certificate(bag.value)) == spki:
                return bag
        except ValueError:
            continue
    raise StoreError("the private key has no certificate")


def _der_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()
