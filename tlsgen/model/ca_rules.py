"""The rules about CAs: their issuers, cycles and path lengths, validities, and what an imported CA
certificate must be for tlsgen to issue under it and for consumers to accept what it signs.

Same shape as `rules`, which runs these in its chain: each a small function of the draft.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterator

from ..diagnostics import Diagnostic, did_you_mean, display_path
from .resolve import Draft
from .sources import CertFacts
from .topology import CA, KEY_TYPES, Entity

# X.509 dates end with 9999 (GeneralizedTime has four digits for the year; RFC 5280 4.1.2.5).
LAST_CERTIFICATE_DATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
# Keys tlsgen signs with (crypto.pki): RSA and the NIST curves its hash choice covers. An imported
# RSA key may be larger than tlsgen's own largest.
_MIN_RSA_BITS = 2048
_SIGNING_CURVES = tuple(k for k in KEY_TYPES if k.startswith("ec-"))


def chain_is_sound(draft: Draft, name: str | None) -> bool:
    """Whether the CA and all its issuers are known CAs, without a cycle: only then are chains judged."""
    seen = set()
    while name is not None:
        if name not in draft.cas or name in seen:
            return False
        seen.add(name)
        name = draft.cas[name].issuer
    return True


def ends_by_the_last_date(draft: Draft, entry: CA | Entity) -> Iterator[Diagnostic]:
    at, validity = draft.at(entry, "validity"), entry.validity
    if draft.known(at) and validity.delta > LAST_CERTIFICATE_DATE - draft.now:
        yield draft.diagnostic(at, f"validity {validity} would end after {LAST_CERTIFICATE_DATE:%Y-%m-%d}, the last "
                               "date a certificate can hold",
                               f"make it at most {(LAST_CERTIFICATE_DATE - draft.now).days}d")


def issuers(draft: Draft) -> Iterator[Diagnostic]:
    for name, ca in draft.cas.items():
        at = ("cas", name, "issuer")
        if ca.imported is not None and draft.written(ca, "issuer"):
            yield draft.diagnostic(at, "an imported CA is already signed; it takes no issuer", "remove issuer")
        if ca.issuer is None or draft.unknown.get(ca.issuer) == "cas":
            continue
        if ca.issuer not in draft.cas:
            yield draft.diagnostic(at, f"no CA named '{ca.issuer}'", did_you_mean(ca.issuer, draft.cas))
        elif not draft.cas[ca.issuer].can_issue:
            yield draft.diagnostic(at, f"CA '{ca.issuer}' is imported without its key, so it cannot sign",
                                   f"add import.key to cas.{ca.issuer}")


def cycles(draft: Draft) -> Iterator[Diagnostic]:
    reported: set[frozenset] = set()
    for name in draft.cas:
        seen: list[str] = []
        current: str | None = name
        while current is not None and current in draft.cas and current not in seen:
            seen.append(current)
            current = draft.cas[current].issuer
        if current is not None and current in seen:
            cycle = seen[seen.index(current):] + [current]
            if frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                yield draft.diagnostic(("cas", current, "issuer"), "CA cycle: " + " → ".join(cycle),
                                       "make one CA of the cycle a root: remove its issuer")


def path_lengths(draft: Draft) -> Iterator[Diagnostic]:
    for name, ca in draft.cas.items():
        if not chain_is_sound(draft, name):
            continue
        depth, issuer = 1, ca.issuer
        while issuer is not None:
            parent = draft.cas[issuer]
            if parent.path_length is not None and depth > parent.path_length:
                yield draft.diagnostic(("cas", name, "issuer"),
                                       f"CA '{issuer}' has path_length {parent.path_length}, so it cannot have CA "
                                       f"'{name}' {depth} level(s) below it",
                                       f"raise cas.{issuer}.path_length to {depth} or issue '{name}' elsewhere")
                break
            depth, issuer = depth + 1, parent.issuer


def validities(draft: Draft) -> Iterator[Diagnostic]:
    for name, ca in draft.cas.items():
        validity_at, renew_at = draft.at(ca, "validity"), draft.at(ca, "renew_before")
        if ca.imported is not None or not draft.known(validity_at, renew_at):
            continue
        if ca.validity <= ca.renew_before:
            yield draft.diagnostic(validity_at, f"validity {ca.validity} is not longer than renew_before "
                                   f"{ca.renew_before}", "every apply would reissue it; make validity longer")
        yield from ends_by_the_last_date(draft, ca)
        parent = draft.cas.get(ca.issuer) if chain_is_sound(draft, name) else None
        if parent is not None and parent.imported is None and ca.validity > parent.validity:
            yield draft.diagnostic(validity_at, f"validity {ca.validity} is beyond its issuer {parent.name}'s "
                                   f"validity {parent.validity}", f"make it at most {parent.validity}")


# --- imported certificates: the first check that fails is the one to fix -----------------------------

CertCheck = Callable[[CertFacts, datetime], "tuple[str, str] | None"]


def is_a_ca(f: CertFacts, now: datetime) -> tuple[str, str] | None:
    if not f.is_ca:
        return (f"{display_path(f.file)} is not a CA certificate (basicConstraints CA:TRUE)",
                "import the certificate of the CA, not one it issued")
    return None


def may_sign_certificates(f: CertFacts, now: datetime) -> tuple[str, str] | None:
    # RFC 5280 4.2.1.3: with a keyUsage, keyCertSign must be set for a certificate it signs to verify
    if f.key_cert_sign is False:
        return (f"{display_path(f.file)} has a keyUsage without keyCertSign, so OpenSSL and Java refuse every certificate it signs",
                "import a CA certificate whose keyUsage includes keyCertSign")
    return None


def usable_key(f: CertFacts, now: datetime) -> tuple[str, str] | None:
    if f.key_type.startswith("rsa-") and int(f.key_type[4:]) >= _MIN_RSA_BITS or f.key_type in _SIGNING_CURVES:
        return None
    allowed = f"RSA of at least {_MIN_RSA_BITS} bits, or EC P-256 or P-384"
    if f.key_type.startswith("rsa-"):
        return f"the CA certificate in {display_path(f.file)} has a {f.key_type} key, which is too weak", f"tlsgen takes {allowed}"
    return (f"the CA certificate in {display_path(f.file)} has a {f.key_type} key, which tlsgen cannot use",
            f"tlsgen takes {allowed}")


def already_valid(f: CertFacts, now: datetime) -> tuple[str, str] | None:
    if f.not_before > now:
        return (f"the CA certificate in {display_path(f.file)} is valid only from {f.not_before:%Y-%m-%d %H:%M} UTC",
                "import it once it is valid (or check this machine's clock): until then nothing it signs is trusted")
    return None


def not_expired(f: CertFacts, now: datetime) -> tuple[str, str] | None:
    if f.not_after <= now:
        return f"the CA certificate in {display_path(f.file)} expired on {f.not_after:%Y-%m-%d}", "import its renewed certificate"
    return None


CERT_CHECKS: tuple[CertCheck, ...] = (is_a_ca, may_sign_certificates, usable_key, already_valid, not_expired)


def imported_certificates(draft: Draft) -> Iterator[Diagnostic]:
    for name, facts in draft.facts.items():
        found = next((r for r in (check(facts, draft.now) for check in CERT_CHECKS) if r is not None), None)
        if found is not None:
            yield draft.diagnostic(("cas", name, "import", "cert"), *found)
        if facts.key_matches is False:
            yield draft.diagnostic(("cas", name, "import", "key"),
                                   f"this key does not belong to the certificate {display_path(facts.file)}")


RULES = (issuers, cycles, path_lengths, validities, imported_certificates)
