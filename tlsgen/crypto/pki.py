"""Keys and certificates: generated, issued, serialised and fingerprinted. No I/O, no clock.

trustme's shape: one shared builder gives every certificate its subject, issuer, serial, validity
window and key identifiers; `issue_ca` and `issue_leaf` add their own extensions on top, each with
its `critical=` flag spelled out. The current time is always a parameter.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence, Union

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..model.topology import KEY_TYPES  # light: the resolved model imports no pydantic
from . import asn1, pfx, workers

if TYPE_CHECKING:  # annotations only
    from concurrent.futures import Future

    from ..model import Subject

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
# PBKDF iterations for encrypted keys and PKCS12 stores whose password a person chose: Java 17's
# own default for PKCS12 (keystore.pkcs12.*IterationCount), 5× OpenSSL 3's 2048.
PBE_ITERATIONS = 10_000
# ... and for stores whose password tlsgen generated (32 characters of [A-Za-z0-9]: 190 bits).
# Iterations only slow down guessing a password; 2^190 guesses are out of reach with or without
# the 13 bits that 10,000 iterations add. Not 1, which Java 17 and OpenSSL 3 also read
# (tests/interop/test_pki_interop.py): 1000 is SP 800-132's minimum, and OpenSSL's FIPS provider
# refuses PBKDF2 below it (EVP_KDF-PBKDF2(7): "the iteration count is at least 1000"), so a
# consumer on a FIPS-mode host still reads the PBES2 bags. A modern keystore then costs 0.66 ms to
# write instead of 2.8 ms (a truststore 0.51 instead of 1.6; legacy 3DES: 1.5 instead of 11.4).
GENERATED_PASSWORD_ITERATIONS = 1000
# The PKCS#12 integrity MAC's key derivation (RFC 7292 appendix B.2: a loop of hashes, not PBKDF2):
# 2048 iterations, what OpenSSL 3 and cryptography write, for stores whose password a person chose.
MAC_ITERATIONS = 2048
# ... and 1 for a generated password's stores, what `openssl pkcs12 -export -nomaciter` writes. The
# file's cheapest test of a guessed password is then one hash, whatever the bags' PBKDF2 takes: as
# above, 2^190 guesses stay out of reach. FIPS's floor is PBKDF2's (SP 800-132), which this
# derivation is not. Java 17, OpenSSL 3 and librdkafka read them (tests/interop/test_pki_interop.py).
# cryptography cannot write it, so tlsgen writes those stores itself (pfx.keystore, pfx.truststore):
# a modern truststore then costs 0.21 ms instead of 0.60, a keystore 0.40 instead of 0.78
# (bench/crypto.py), and the 106 stores of a cold 50-client apply 0.036 s instead of 0.081.
GENERATED_PASSWORD_MAC_ITERATIONS = 1
# pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix C), DER-encoded: 1.2.840.113549.1.12.1.3.
PBE_SHA1_3DES_OID = pfx.PBE_SHA1_3DES


def iterations_for(password_generated: bool) -> int:
    """PBKDF iterations for a store or encrypted key: fewer when tlsgen generated the password."""
    return GENERATED_PASSWORD_ITERATIONS if password_generated else PBE_ITERATIONS


def mac_iterations_for(password_generated: bool) -> int:
    """Iterations of a PKCS12 store's MAC key derivation: fewer when tlsgen generated the password."""
    return GENERATED_PASSWORD_MAC_ITERATIONS if password_generated else MAC_ITERATIONS


# --- keys -------------------------------------------------------------------------------------

def generate_key(key_type: str) -> PrivateKey:
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type]())
    if key_type in _RSA_SIZES:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_SIZES[key_type])
    raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")


_RSA_SIZES = {"rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}
# cryptography releases the GIL while OpenSSL generates an RSA key from 47.0 on (pyca/cryptography
# #14370): threads then use every core, with nothing to start (bench/crypto.py, 2 cores, a core
# free: two threads made rsa-2048 keys 1.81× as fast as one, the GIL-free control 1.78×).
# Before 47 threads would take turns, so keys are made by forked workers instead (workers.py).
_KEYGEN_RELEASES_GIL = int(cryptography.__version__.split(".")[0]) >= 47


def is_rsa(key_type: str) -> bool:
    """An RSA key type: ~50 ms of a core to make (rsa-2048) or more, where an EC key takes microseconds."""
    return key_type in _RSA_SIZES


def generate_keys(key_types: list[str], *, processes: int | None = None) -> list[PrivateKey]:
    """One new key per type, in the same order; RSA keys are made on every core when there are several.

    RSA prime search is the slowest step of an apply (an rsa-2048 key takes ~50 ms of one core, an
    rsa-4096 key ~0.6 s), so two or more RSA keys are made by `processes` threads (default: one per
    core), or forked workers with a cryptography older than 47 (and one after the other when the
    process has other threads then). There is no start-up cost to weigh: a thread pool starts in
    ~0.1 ms and a forked worker in ~1 ms, against the 50 ms of a single key. EC keys take
    microseconds and are always made here.
    """
    for key_type in key_types:
        if key_type not in KEY_TYPES:
            raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")
    keys: list[PrivateKey | None] = [None] * len(key_types)
    rsa_slots = [i for i, t in enumerate(key_types) if t in _RSA_SIZES]
    processes = min(processes or workers.cpu_count(), len(rsa_slots))
    if processes > 1 and _KEYGEN_RELEASES_GIL:
        from concurrent.futures import ThreadPoolExecutor  # ~12 ms to import (logging): only when used

        with ThreadPoolExecutor(processes, thread_name_prefix="tlsgen-keygen") as pool:
            for i, key in zip(rsa_slots, pool.map(generate_key, [key_types[i] for i in rsa_slots])):
                keys[i] = key
    elif processes > 1 and workers.can_fork():
        try:
            ders = workers.map_forked(_rsa_key_der, [_RSA_SIZES[key_types[i]] for i in rsa_slots], processes)
        except workers.WorkerError:
            pass  # no worker processes here (a sandbox, a process limit): the loop below makes them all
        else:
            for i, der in zip(rsa_slots, ders):
                # Made by our own worker just now: OpenSSL's RSA_check_key (~45 ms a key) is skipped.
                keys[i] = serialization.load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
    for i, key_type in enumerate(key_types):
        if keys[i] is None:
            keys[i] = generate_key(key_type)
    return keys  # type: ignore[return-value]


def start_generate_keys(key_types: list[str], ahead: KeysAhead | None = None) -> Callable[[], list[PrivateKey]]:
    """Start making one key per type in background threads and return at once; calling the
    result waits for the keys (in order), as generate_keys would return them. A key `ahead`
    has under way of the same type is taken instead of starting another.

    For apply: the threads leave the GIL to this thread while OpenSSL searches for primes, so
    signing, building and staging one batch of files overlaps making the next batch's keys, the
    slowest step (~50 ms a key). With a cryptography older than 47 nothing starts: the keys are
    made when the result is called. Unknown key types raise here, at once.
    """
    for key_type in key_types:
        if key_type not in KEY_TYPES:
            raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")
    futures = [ahead.take(t) if ahead is not None else None for t in key_types]
    threaded = [i for i, t in enumerate(key_types) if futures[i] is None and t in _RSA_SIZES]
    if threaded and _KEYGEN_RELEASES_GIL:
        for i, future in zip(threaded, _started([key_types[i] for i in threaded])):
            futures[i] = future

    def wait() -> list[PrivateKey]:
        made = iter(generate_keys([t for t, f in zip(key_types, futures) if f is None]))
        return [next(made) if f is None else f.result() for f in futures]

    return wait


class KeysAhead:
    """RSA keys made in background threads before anyone asks for them.

    On a first apply every CA and entity needs a new key, and RSA keys are the slowest step: they
    can be under way while the plan is made, with a core that would otherwise wait (~0.2 s at 300
    clients). A key is as good as any other of its type, so whoever asks first for one takes the
    oldest started (take, from start_generate_keys). Keys nobody takes are never used; cancel()
    drops those not begun. With a cryptography older than 47 nothing is made ahead."""

    def __init__(self, key_types: Sequence[str] = ()):
        self._queues: dict[str, deque] = {}
        self.want(key_types)

    def want(self, key_types: Sequence[str]) -> None:
        """Have one key per type of `key_types` under way: start those missing, and cancel keys of
        each type beyond what is wanted now (a guess made before the spec was read, keys_guessed)."""
        wanted = Counter(t for t in key_types if t in _RSA_SIZES) if _KEYGEN_RELEASES_GIL else Counter()
        for key_type, queue in self._queues.items():
            while len(queue) > wanted[key_type]:
                queue.pop().cancel()  # the latest asked for: the most likely not begun
        missing = [t for t, n in wanted.items() for _ in range(n - len(self._queues.get(t, ())))]
        if not missing:  # no key to start (no RSA key in the spec): not even the import _started costs
            return
        for key_type, future in zip(missing, _started(missing)):
            self._queues.setdefault(key_type, deque()).append(future)

    def take(self, key_type: str) -> Future | None:
        queue = self._queues.get(key_type)
        return queue.popleft() if queue else None

    def cancel(self) -> None:
        for queue in self._queues.values():
            for future in queue:
                future.cancel()
        self._queues.clear()


def keys_guessed(key_type: str | None) -> list[str]:
    """The keys to start for a spec not read yet whose text names this RSA type: what one core makes
    in the ~0.4 s that reading the spec and importing what apply needs take on the other (8
    rsa-2048, 2 rsa-3072, 1 rsa-4096); none for no guess or a type tlsgen does not make.
    KeysAhead.want keeps those the spec asks for."""
    return [key_type] * max(1, round(GUESS_SECONDS / _KEY_SECONDS[key_type])) if key_type in _RSA_SIZES else []


GUESS_SECONDS = 0.4
_KEY_SECONDS = {"rsa-2048": 0.05, "rsa-3072": 0.2, "rsa-4096": 0.6}  # one core, this machine kind


def _started(key_types: list[str]) -> list[Future]:
    """One key per type under way in background threads (_KeyQueue)."""
    return _QUEUE.submit(key_types)


class _KeyQueue:
    """Keys made in the order they were asked for, whoever asked, by up to one thread per core.

    One queue for the process: apply asks for each batch's keys before it needs them, and a batch
    waits for its own, so the keys asked for first must be made first (a pool per request would make
    later batches' keys beside earlier ones, and leave them all to finish together at the end). A
    thread ends as soon as no key is waiting: a process with no key to make has no other thread, and
    may fork (workers.can_fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[tuple[str, Future]] = deque()
        self._threads = 0

    def submit(self, key_types: list[str]) -> list[Future]:
        from concurrent.futures import Future  # ~12 ms to import (logging): only when used

        futures = [Future() for _ in key_types]
        with self._lock:
            self._waiting.extend(zip(key_types, futures))
            for _ in range(min(workers.cpu_count(), len(self._waiting)) - self._threads):
                self._threads += 1
                threading.Thread(target=self._make, name="tlsgen-keygen", daemon=True).start()
        return futures

    def _make(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._threads -= 1
                    return
                key_type, future = self._waiting.popleft()
            if future.set_running_or_notify_cancel():  # False: cancelled while it waited
                try:
                    future.set_result(generate_key(key_type))
                except BaseException as exc:
                    future.set_exception(exc)


_QUEUE = _KeyQueue()


def _rsa_key_der(size: int) -> bytes:
    """In a forked worker: a new RSA key as unencrypted PKCS#8 DER."""
    return key_der(rsa.generate_private_key(public_exponent=65537, key_size=size))


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


def key_der(key: PrivateKey) -> bytes:
    """PKCS#8, unencrypted, DER: what a store encrypts (PKCS12, JKS) and a forked worker hands back."""
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
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

    cryptography writes that algorithm only inside PKCS12, where a pkcs8ShroudedKeyBag's value is
    exactly an EncryptedPrivateKeyInfo (RFC 7292 4.2.2), so it is taken out of a one-bag PKCS12
    and OpenSSL does the key derivation in C: 5.9 ms of CPU at 10,000 iterations, where tlsgen's
    former Python derivation took 9.8 ms (bench/crypto.py); ~0.95 ms at 1000 either way. The bag
    also comes with a MAC (2048 iterations, ~0.35 ms) that is thrown away.
    """
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(iterations)
                  .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
                  .build(password.encode()))
    one_bag = pkcs12.serialize_key_and_certificates(None, key, None, None, encryption)
    (bag,) = [b for b in pfx.bags(pfx.auth_safe_of(one_bag), None) if b.kind == "shrouded-key"]
    return asn1.pem("ENCRYPTED PRIVATE KEY", bag.value)


def load_key(pem: bytes, password: str | None = None, *, trusted: bool = False,
             full_check: bool = True) -> PrivateKey:
    """A private key from PEM (PKCS#8, encrypted or not, or traditional); ValueError if unusable.

    `trusted`: tlsgen made this key, or already checked it in this run: no check at all.
    Otherwise an RSA key is checked: with `full_check`, by OpenSSL's RSA_check_key (~45 ms for
    rsa-2048: it tests both primes); without, by `check_key_pair` (~0.05 ms), which every damaged
    key fails but a crafted one with composite primes passes.
    """
    try:
        key = serialization.load_pem_private_key(pem, password.encode() if password is not None else None,
                                                 unsafe_skip_rsa_key_validation=trusted or not full_check)
    except TypeError as exc:  # cryptography's word for a password given to a plain key, or missing
        raise ValueError(str(exc)) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"unsupported key type {type(key).__name__}; tlsgen uses RSA and EC keys")
    if not trusted and not full_check:
        check_key_pair(key)
    return key


def check_key_pair(key: PrivateKey) -> None:
    """ValueError unless an RSA private key's numbers agree with each other and its public key.

    For RSA keys loaded without OpenSSL's RSA_check_key, whose cost (~45 ms for rsa-2048, held
    under the GIL) is the primality tests of p and q. What is left costs ~0.05 ms: n = pq,
    e·d ≡ 1 mod lcm(p-1, q-1) and the CRT values (a wrong dP alone still signs correctly through
    OpenSSL, which falls back to d when its CRT result fails to verify, but Java's RSACore refuses
    it). A damaged byte anywhere in the private numbers breaks one of these; only a key crafted
    with composite "primes" passes, and keys from outside get the full check (load_key).
    EC keys need none: cryptography refuses, on loading, a public point that is not the private
    scalar times the generator.
    """
    if not isinstance(key, rsa.RSAPrivateKey):
        return
    numbers = key.private_numbers()
    p, q, d, n, e = numbers.p, numbers.q, numbers.d, numbers.public_numbers.n, numbers.public_numbers.e
    if (p * q != n or e * d % math.lcm(p - 1, q - 1) != 1 or numbers.dmp1 != d % (p - 1)
            or numbers.dmq1 != d % (q - 1) or numbers.iqmp * q % p != 1):
        raise ValueError("the RSA private key's numbers do not agree with each other")


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


class LeafOrder(NamedTuple):
    """The arguments of one `issue_leaf` call, for `issue_leaves`."""

    subject: Subject
    public_key: PublicKey
    issuer_cert: x509.Certificate
    issuer_key: PrivateKey
    usages: tuple[str, ...]
    validity: timedelta
    now: datetime
    hostnames: tuple[str, ...] | list[str] = ()
    ip_addresses: tuple[str, ...] | list[str] = ()

    def issue(self) -> x509.Certificate:
        return issue_leaf(**self._asdict())

    def issue_der(self) -> bytes:
        return self.issue().public_bytes(serialization.Encoding.DER)


# Single-core seconds to build and sign one leaf (bench/crypto.py): by an EC issuer ~0.15 ms, by
# rsa-2048 ~0.5 ms (the RSA operation itself), rsa-4096 ~3 ms.
_SIGN_SECONDS = {"rsa-2048": 0.0005, "rsa-3072": 0.0013, "rsa-4096": 0.003}
_SIGN_SECONDS_EC = 0.00015
# Below this much signing (single-core seconds) issue_leaves stays in this process. Measured with
# bench/crypto.py (2 cores, load average ~1), here / 2 forked workers: 1000 leaves by
# ec-p256 0.18 / 0.11 s, 4000 0.48 / 0.41 s; by rsa-2048 1000 0.51 / 0.29 s, 4000 1.55 / 1.15 s.
# (Threads: 0.6× for EC issuers, whose signing is mostly Python under the GIL; 1.4× for RSA.)
_PARALLEL_SIGN_MIN_SECONDS = 0.15


def issue_leaves(orders: Sequence[LeafOrder], *, processes: int | None = None) -> list[x509.Certificate]:
    """`issue_leaf` for every order, in order; on every core when there is enough to sign.

    Building a certificate is mostly Python under the GIL, so the second core needs a forked
    worker (workers.map_forked); certificates come back as DER. With threads in this process
    (watch mode), or for a small batch, they are signed here. `processes` forces the number of
    workers (tests). Orders may have different issuers, but each issuer must exist already.
    """
    if processes is None:
        work = sum(_SIGN_SECONDS.get(key_type_of(o.issuer_key), _SIGN_SECONDS_EC) for o in orders)
        processes = workers.cpu_count() if work >= _PARALLEL_SIGN_MIN_SECONDS and workers.can_fork() else 1
    if processes > 1 and len(orders) > 1 and workers.can_fork():
        try:
            return [x509.load_der_x509_certificate(der) for der in workers.map_forked(LeafOrder.issue_der, orders,
                                                                                       processes)]
        except workers.WorkerError:
            pass  # sign them here instead (and raise here what a worker could only report)
    return [order.issue() for order in orders]


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
