"""The cross-checks of a resolved spec: an ordered chain of named rules (cert-manager's policy chain).

Each rule is a small function of the `Draft` (or of one CA or entity and the draft) that returns the
diagnostics it finds, each at the place of the setting to change; `check` runs them all, so every
problem of a spec comes out in one run. A rule leaves alone what did not parse or could not be read
(`draft.unknown`, `draft.known`): those were reported already, and a rule about them would only
report the same mistake again in other words.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .. import layout
from ..diagnostics import Diagnostic, Place, did_you_mean, display_path
from ..render.env import image_env_problem
from ..spec.loader import dotted
from ..spec.schema import KAFKA_IMAGE_MOUNT, LABEL_RE
from . import ca_rules, compose_rules
from .resolve import Draft
from .topology import Entity, chain_of

# Characters a password can hold and still be written unquoted into env files, compose files and
# KAFKA_OPTS (which the Kafka images' shell word-splits): no space, quote, `$`, backslash or glob.
PASSWORD_RE = re.compile(r"^[A-Za-z0-9_.:@%+=,/~^!-]+$")
KIND_WORD = {"brokers": "broker", "clients": "client", "workers": "worker", "servers": "server",
             "cas": "CA", "trusted": "trusted certificate"}

Rule = Callable[[Draft], Iterable[Diagnostic]]
EntityRule = Callable[[Entity, Draft], Iterable[Diagnostic]]


def check(draft: Draft) -> list[Diagnostic]:
    """Every diagnostic of every rule, in the chain's order."""
    return [d for rule in RULES for d in rule(draft)]


def warnings(draft: Draft) -> list[Diagnostic]:
    """What is legal but probably not meant, for a draft that passed `check`."""
    return [d for rule in WARNINGS for d in rule(draft)]


def no_such(what: str, name: str, choices: Iterable[str]) -> tuple[str, str | None]:
    return f"no {what} named '{name}'", did_you_mean(name, choices)


# --- the spec as a whole ------------------------------------------------------------------------------


def unique_names(draft: Draft) -> Iterator[Diagnostic]:
    first: dict[str, str] = {}
    named = sorted(draft.names, key=lambda sn: draft.locations.of(sn, key=True) or Place("", 0, 0))
    for section, name in named:
        if name in first:
            yield draft.diagnostic((section, name), f"name '{name}' is already used by {KIND_WORD[first[name]]} "
                                   f"'{name}' at {draft.locations.of((first[name], name), key=True)}",
                                   "names are unique across the whole spec; rename one", key=True)
        else:
            first[name] = section


def defaults_validity(draft: Draft) -> Iterator[Diagnostic]:
    d, written = draft.defaults, draft.defaults.model_fields_set
    if d.validity <= d.renew_before and draft.known(("defaults", "validity"), ("defaults", "renew_before")):
        at = ("defaults", "validity") if "validity" in written else ("defaults", "renew_before")
        both = {"validity", "renew_before"} <= written
        yield draft.diagnostic(at, f"validity {d.validity} is not longer than renew_before {d.renew_before}"
                               + (" (at defaults.renew_before)" if both else ""),
                               "every leaf certificate would be reissued on every apply; make validity longer "
                               "or renew_before shorter")


def each_entity(draft: Draft) -> Iterator[Diagnostic]:
    for e in draft.entities.values():
        for rule in ENTITY_RULES:
            yield from rule(e, draft)


def service_mounts(draft: Draft) -> Iterator[Diagnostic]:
    taken: dict[tuple[str, str], str] = {}
    for name, e in draft.entities.items():
        if e.service is None or not draft.known(draft.at(e, "mount")):
            continue
        slot = (e.service, e.mount.rstrip("/"))
        if slot in taken:
            yield draft.diagnostic((e.kind, name), f"'{name}' and '{taken[slot]}' both mount into service "
                                   f"'{e.service}' at {e.mount}", "give one of them another service or mount", key=True)
        else:
            taken[slot] = name


def output_dir(draft: Draft) -> Iterator[Diagnostic]:
    output, at = draft.output, draft.output_at
    if at is not None and not draft.known(at):
        return
    named = "--out " if draft.out_option else ""
    hint = "name a directory (it is created when missing)"

    def error(message: str, hint: str | None = hint) -> Diagnostic:
        return Diagnostic(None, "", message, hint) if at is None else draft.diagnostic(at, message, hint)

    if "\0" in str(output):
        yield error("the output directory's name holds a NUL character", None)
        return
    if at is not None and any(output.absolute() in (f.absolute(), *f.absolute().parents)
                              for f in draft.locations.files):
        yield error(f"the output directory {output} holds the spec itself: its .gitignore ('*') would keep the spec "
                    "out of git", "give out/ a directory of its own, such as ../out")
    # lexists/isdir: a path that cannot even be looked at is apply's to report
    blocking = next((p for p in (output, *output.parents) if os.path.lexists(p)), None)
    if blocking is not None and not os.path.isdir(blocking):
        what = "a symlink to nothing (or a symlink loop)" if os.path.islink(blocking) else "a file"
        yield error(f"{named}{display_path(output)} is {what}, not a directory" if blocking == output else
                    f"{display_path(blocking)} is {what}, so {named}{display_path(output)} cannot be a directory")


def compose_file(draft: Draft) -> Iterator[Diagnostic]:
    file, at = draft.compose.file, draft.compose_file_at
    if file is None or at is None:
        return
    parts = Path(file).parts
    if Path(file).is_absolute() or ".." in parts or not parts or any(c < " " for c in file):
        yield draft.diagnostic(at, f"'{file}' must be a relative path inside the output directory",
                               "such as compose.tls.yaml")
    elif parts[0] in layout.RESERVED:
        yield draft.diagnostic(at, f"'{file}' would collide with tlsgen's own files", "such as compose.tls.yaml")


def strimzi_cas(draft: Draft) -> Iterator[Diagnostic]:
    """Strimzi signs its brokers' and users' certificates itself: each CA it is given needs its key."""
    strimzi = draft.kubernetes.strimzi if draft.kubernetes is not None else None
    if strimzi is None:
        return
    for role, name in (("cluster_ca", strimzi.cluster_ca), ("clients_ca", strimzi.clients_ca)):
        at = ("kubernetes", "strimzi", role)
        if name not in draft.cas:
            if draft.unknown.get(name) != "cas":
                yield draft.diagnostic(at, *no_such("CA", name, draft.cas))
        elif draft.cas[name].imported is not None:
            # The key Secret is made from out/'s ca.key, and an imported CA's key never enters out/.
            yield draft.diagnostic(at, f"CA '{name}' is imported: Strimzi signs with its CA's key, which tlsgen "
                                   "would have to copy into out/, and an imported key never goes there",
                                   "name a CA tlsgen generates (it may be issued by the imported one)")


# --- each entity -----------------------------------------------------------------------------------------


def entity_issuer(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    at = (e.kind, e.name, "issuer")
    if draft.unknown.get(e.issuer) == "cas":
        return
    if e.issuer not in draft.cas:
        yield draft.diagnostic(at, *no_such("CA", e.issuer, draft.cas))
    elif not draft.cas[e.issuer].can_issue:
        yield draft.diagnostic(at, f"CA '{e.issuer}' is imported without its key, so it cannot issue",
                               f"add import.key to cas.{e.issuer}, or choose another issuer")


def validity_longer_than_renew_before(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    validity_at, renew_at = draft.at(e, "validity"), draft.at(e, "renew_before")
    own = {validity_at, renew_at} & {(e.kind, e.name, "validity"), (e.kind, e.name, "renew_before")}
    # both inherited: defaults_validity says it once
    if e.validity <= e.renew_before and own and draft.known(validity_at, renew_at):
        at = validity_at if validity_at in own else renew_at
        other = renew_at if at == validity_at else validity_at
        yield draft.diagnostic(at, f"validity {e.validity} is not longer than renew_before {e.renew_before}"
                               + (f" (at {dotted(other)})" if other not in own and other != (e.kind, e.name) else ""),
                               "every apply would reissue it; make validity longer or renew_before shorter")


def validity_within_issuer(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    issuer = draft.cas.get(e.issuer)
    at = draft.at(e, "validity")
    if issuer is not None and issuer.imported is None and e.validity > issuer.validity and draft.known(at) and \
            draft.known(draft.at(issuer, "validity")):
        yield draft.diagnostic(at, f"validity {e.validity} is beyond its issuer {issuer.name}'s validity "
                               f"{issuer.validity}", f"make it at most {issuer.validity}")


def validity_within_dates(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    yield from ca_rules.ends_by_the_last_date(draft, e)


def imported_issuers_outlast_renew_before(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    """A certificate ends no later than its issuers: one that ends within renew_before is reissued every apply."""
    if not ca_rules.chain_is_sound(draft, e.issuer) or not draft.known(draft.at(e, "renew_before")):
        return
    for ca in chain_of(draft.cas, e.issuer):
        facts = draft.facts.get(ca.name)
        if facts is not None and draft.now < facts.not_after and facts.not_after - draft.now <= e.renew_before.delta:
            yield draft.diagnostic(("cas", ca.name, "import", "cert"), f"the CA certificate in "
                                   f"{ca.imported.cert_file} ends on {facts.not_after:%Y-%m-%d}, within renew_before "
                                   f"{e.renew_before}", "every apply would reissue what it signs; import its renewed "
                                   "certificate")


def worker_stores(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    if e.kind != "workers":
        return
    for setting in ("keystore", "truststore"):
        at = draft.at(e, setting)
        if getattr(e, setting) == "pem" and draft.known(at):
            yield draft.diagnostic(at, f"a worker's KAFKA_OPTS needs a pkcs12 or jks {setting}, not pem",
                                   f"set {setting}: pkcs12 on this worker")


def image_conventions(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    mount_at, image_at = draft.at(e, "mount"), draft.at(e, "image")
    if e.image not in ("apache", "confluent") or not draft.known(mount_at, image_at):
        return
    if e.mount.rstrip("/") != KAFKA_IMAGE_MOUNT:
        yield draft.diagnostic(mount_at if mount_at != (e.kind, e.name) else image_at,
                               f"the {e.image} image reads its secrets from {KAFKA_IMAGE_MOUNT}, not {e.mount}",
                               f"use mount: {KAFKA_IMAGE_MOUNT}, or image: none")
    keystore_at, truststore_at = draft.at(e, "keystore"), draft.at(e, "truststore")
    problem = image_env_problem(e.keystore, e.truststore, e.client_auth) if e.kind == "brokers" else None
    if problem and draft.known(keystore_at, truststore_at):
        yield draft.diagnostic(keystore_at if e.keystore == "pem" else truststore_at, problem,
                               "use pkcs12 or jks with this image, or image: none and server.properties")


def password_characters(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    if e.password is None:
        return
    at = draft.at(e, "password")
    if not e.password:
        yield draft.diagnostic(at, "the password is empty", "Java keystores need a password")
    elif not PASSWORD_RE.match(e.password):
        bad = sorted({c for c in e.password if not PASSWORD_RE.match(c)})
        shown = " ".join("space" if c == " " else repr(c) for c in bad)
        yield draft.diagnostic(at, f"the password holds characters that env files, compose or KAFKA_OPTS cannot "
                               f"carry: {shown}", "use letters, digits and -_.:@%+=,/~^!, or password: generate")


def hostnames(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    explicit = draft.written(e, "hostnames")
    seen: set[str] = set()
    for i, host in enumerate(e.hostnames):
        at = (e.kind, e.name, "hostnames", i) if explicit else (e.kind, e.name)
        labels = host[2:].split(".") if host.startswith("*.") else host.split(".")
        if _ip_address(host) is not None:
            yield draft.diagnostic(at, f"'{host}' is an IP address, not a hostname", "move it to ip_addresses")
        elif len(host) > 253 or not all(LABEL_RE.match(label) for label in labels):
            yield draft.diagnostic(at, f"'{host}' is not a valid hostname",
                                   "use letters, digits and '-' in dot-separated labels; a wildcard only as a "
                                   "leading '*.'")
        elif host.lower() in seen:
            yield draft.diagnostic(at, f"hostname '{host}' is listed twice", "remove one")
        seen.add(host.lower())


def ip_addresses(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    seen = set()
    for i, text in enumerate(e.ip_addresses):
        at = (e.kind, e.name, "ip_addresses", i)
        ip = _ip_address(text)
        if ip is None:
            yield draft.diagnostic(at, f"'{text}' is not an IPv4 or IPv6 address", "hostnames go in hostnames")
            continue
        if getattr(ip, "scope_id", None):
            # A certificate's iPAddress is 4 or 16 bytes: the zone would be dropped, and the certificate would
            # never match the spec, so every apply would reissue it.
            plain = text.strip("[]").split("%")[0]
            yield draft.diagnostic(at, f"'{text}' has a zone (%{ip.scope_id}), which a certificate cannot carry",
                                   f"write {plain}")
        elif ip in seen:
            yield draft.diagnostic(at, f"IP address {ip} is listed twice", "remove one")
        seen.add(ip)


def serving_sans(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    if e.serves and not e.hostnames and not e.ip_addresses:
        yield draft.diagnostic((e.kind, e.name, "hostnames"), f"a {KIND_WORD[e.kind]} needs at least one hostname "
                               "or IP address: its clients verify its certificate against them",
                               "remove hostnames: [] to use [name]")


def references(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    kind_of = draft.kinds
    for setting, allowed in (("brokers", ("brokers",)), ("connects_to", ("servers", "brokers"))):
        for i, name in enumerate(getattr(e, setting)):
            if kind_of.get(name) in allowed:
                continue
            at = (e.kind, e.name, setting, i)
            what = " or ".join(KIND_WORD[k] for k in allowed)
            if name in kind_of:
                yield draft.diagnostic(at, f"'{name}' is a {KIND_WORD[kind_of[name]]}, not a {what}")
            else:
                yield draft.diagnostic(at, *no_such(what, name, [n for n, k in kind_of.items() if k in allowed]))


def explicit_trust(e: Entity, draft: Draft) -> Iterator[Diagnostic]:
    if not draft.written(e, "trust"):
        return
    at = (e.kind, e.name, "trust")
    if not e.trust:
        yield draft.diagnostic(at, "an empty trust list leaves an empty truststore, which Java refuses",
                               "name at least one CA, or remove trust to use the default")
    for i, ref in enumerate(e.trust):
        if ref not in draft.cas and ref not in draft.trusted and draft.unknown.get(ref) not in ("cas", "trusted"):
            yield draft.diagnostic(at + (i,), *no_such("CA or trusted certificate", ref,
                                                         [*draft.cas, *draft.trusted]))


def trust_without_root(draft: Draft) -> Iterator[Diagnostic]:
    """A warning: a client or server that trusts a CA tlsgen issued under another, without that CA's
    root. Java takes any trusted certificate as an anchor, but OpenSSL needs the chain to end at a
    self-signed one (librdkafka and mongod do not set X509_V_FLAG_PARTIAL_CHAIN), so those consumers
    refuse every peer (shown with `openssl verify` in tests/interop/test_apply_interop.py)."""
    for e in draft.entities.values():
        if e.kind not in ("clients", "servers") or not draft.written(e, "trust"):
            continue
        for i, ref in enumerate(e.trust):
            if ref not in draft.cas or draft.cas[ref].issuer is None:
                continue
            root = chain_of(draft.cas, ref)[-1].name
            if root not in e.trust:
                program = "librdkafka" if e.kind == "clients" else "MongoDB"
                yield draft.diagnostic((e.kind, e.name, "trust", i),
                                       f"trusts CA '{ref}' without its root '{root}': Java accepts that, but "
                                       f"{program} (OpenSSL) does not, and would refuse every peer's certificate",
                                       f"add '{root}' to trust")


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(text).strip("[]"))
    except ValueError:
        return None


ENTITY_RULES: tuple[EntityRule, ...] = (
    entity_issuer, validity_longer_than_renew_before, imported_issuers_outlast_renew_before, validity_within_issuer,
    validity_within_dates, worker_stores, image_conventions, password_characters, hostnames, ip_addresses,
    serving_sans, references, explicit_trust,
)
WARNINGS: tuple[Rule, ...] = (trust_without_root,)  # legal, but probably not meant: said, not refused
RULES: tuple[Rule, ...] = (
    unique_names, defaults_validity, *ca_rules.RULES, each_entity, service_mounts, output_dir, compose_file,
    strimzi_cas, *compose_rules.RULES,
)
