"""From spec files to a resolved `model.Spec`, or every problem found, each at its place.

Order: load YAML (syntax, duplicate keys, directory merge) → pydantic (shapes, enums, unknown
keys) → cross-checks on the whole spec (references, cycles, durations, SANs, passwords) → reading
what the spec points at (env variables, password files, imported CAs). Every step collects all of
its diagnostics before stopping, and nothing here writes anything.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from .. import model
from ..spec import schema
from ..diagnostics import Diagnostic, Place, UserError, did_you_mean
from ..spec.loader import Locations, RawSpec, SpecPath, dotted, load
from . import CA, CA_DEFAULT_VALIDITY, Compose, Entity, Secret, Trusted
from ..render.env import image_env_problem

# Characters a password can hold and still be written unquoted into env files, compose files and
# KAFKA_OPTS (which the Kafka images' shell word-splits): no space, quote, `$`, backslash or glob.
PASSWORD_RE = re.compile(r"^[A-Za-z0-9_.:@%+=,/~^!-]+$")
DEFAULT_SPEC = Path("specs")

_MODEL_OF_SECTION = {
    "defaults": schema.Defaults, "cas": schema.CASpec, "brokers": schema.BrokerSpec, "clients": schema.ClientSpec,
    "workers": schema.WorkerSpec, "servers": schema.ServerSpec, "trusted": schema.TrustedSpec, "compose": schema.ComposeSpec,
}
_NESTED_MODELS = {"subject": schema.Subject, "import": schema.ImportSpec, "password": None, "key": None}
_KIND_WORD = {"brokers": "broker", "clients": "client", "workers": "worker", "servers": "server",
              "cas": "CA", "trusted": "trusted certificate"}
_PATTERN_MESSAGES = {
    "country": "must be a two-letter country code in capitals, such as GB",
    "mount": "must be an absolute directory below / of letters, digits and ._@+:-, without '.' or '..' parts, "
             "such as /etc/kafka/secrets",
    "owner": "must be UID or UID:GID, in numbers, such as 1000:1000",
    "service": "is not a compose service name (letters, digits, '.', '_', '-')",
    "env": "is not an environment variable name (letters, digits and '_', not starting with a digit)",
}


def read_spec(source: Path | None = None, out: Path | None = None, now: datetime | None = None) -> model.Spec:
    """The resolved spec, or UserError with every diagnostic. `now` dates imported CAs (default: the clock)."""
    raw = load(source or DEFAULT_SPEC)
    try:
        parsed = _parse_model(raw)
    except UserError as exc:
        said = {d.path for d in raw.problems}  # e.g. the loader's "missing 'version: 1'", with its file
        raise UserError([*raw.problems, *(d for d in exc.diagnostics if d.path not in said)]) from None
    if raw.problems:
        raise UserError(raw.problems)
    return _Resolver(raw, parsed, out, now or datetime.now(timezone.utc)).resolve()


# --- pydantic errors, translated to the user's words and places -------------------------------------


def _parse_model(raw: RawSpec) -> schema.SpecModel:
    try:
        return schema.SpecModel.model_validate(raw.data)
    except ValidationError as exc:
        errors = _closest_branches(raw.data, exc.errors(include_url=False))
        raise UserError(_translate(raw, err) for err in errors) from None


_STRUCTURAL = {"missing", "extra_forbidden", "literal_error", "model_type", "dict_type", "model_attributes_type"}


def _closest_branches(data: Any, errors: list[dict]) -> list[dict]:
    """Of a union's failed branches (password: generate | {env} | {file}), keep the one the user
    plainly meant: the branch with the fewest shape errors. Others would say 'missing key file'
    about a value written as {env: ...}."""
    branches: dict[tuple, dict[str, list[dict]]] = {}
    plain = []
    for err in errors:
        where = _branch_of(data, tuple(err["loc"]))
        if where is None:
            plain.append(err)
        else:
            branches.setdefault(where[0], {}).setdefault(where[1], []).append(err)
    for by_tag in branches.values():
        score = {tag: sum(e["type"] in _STRUCTURAL for e in errs) for tag, errs in by_tag.items()}
        best = min(score.values())
        plain += [e for tag, errs in by_tag.items() if score[tag] == best for e in errs]
    return plain


def _branch_of(data: Any, loc: tuple) -> tuple[tuple, str] | None:
    """(location of the union, branch tag) when `loc` passes through a union branch, else None."""
    current = data
    for i, part in enumerate(loc[:-1]):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        elif part == "[key]":
            return None
        else:
            return loc[:i], str(part)
    last = loc[-1] if loc else None
    if isinstance(last, str) and (last.startswith("literal[") or last[:1].isupper()) and \
            not (isinstance(current, dict) and last in current):
        return loc[:-1], last  # a branch that failed as a whole, such as literal['generate']
    return None


def _data_path(data: Any, loc: tuple) -> tuple[SpecPath, bool]:
    """The spec path of a pydantic location: drop union-branch tags, note '[key]' (a bad mapping key)."""
    path: list[str | int] = []
    current, is_key = data, False
    for i, part in enumerate(loc):
        if part == "[key]":
            is_key = True
            break
        if isinstance(current, dict) and part in current:
            current = current[part]
            path.append(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(part, str) and not part[:1].isupper() and "[" not in part:
            path.append(part)  # a missing or unknown field: the name is the last part
    return tuple(path), is_key


def _allowed_keys(path: SpecPath) -> list[str]:
    if len(path) <= 1:
        return list(schema.SpecModel.model_fields)
    section = path[0]
    model_cls = _MODEL_OF_SECTION.get(section)
    depth = 2 if section in ("defaults", "compose") else 3
    if len(path) == depth and model_cls is not None:
        return [f.alias or n for n, f in model_cls.model_fields.items()]
    parent = path[-2] if len(path) >= 2 else None
    nested = _NESTED_MODELS.get(parent) if isinstance(parent, str) else None
    if nested is not None:
        return [f.alias or n for n, f in nested.model_fields.items()]
    return ["env", "file"]


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a yes/no value"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


def _translate(raw: RawSpec, err: dict) -> Diagnostic:
    loc = tuple(err["loc"])
    path, is_key = _data_path(raw.data, loc)
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    last = path[-1] if path else ""
    hint = None
    message = err["msg"]
    if kind == "extra_forbidden":
        return raw.locations.diagnostic(path, f"unknown key '{last}'",
                                        did_you_mean(str(last), _allowed_keys(path)), key=True)
    if kind == "missing":  # named by its own path, placed at the mapping that lacks it
        return Diagnostic(raw.locations.of(path[:-1], key=True), dotted(path), f"missing required key '{last}'")
    if is_key:
        return raw.locations.diagnostic(path, message, key=True)
    if kind in ("string_type",) and path in raw.locations.quoted:
        written = raw.locations.quoted[path]
        message = f"expected text, got {_describe(value)}"
        hint = f"YAML reads {written} as {_describe(value)}; quote it: \"{written}\""
    elif kind == "string_type":
        message = f"expected text, got {_describe(value)}"
    elif kind == "string_pattern_mismatch":
        key = next((p for p in reversed(path) if isinstance(p, str)), "")
        message = f"{value!r} {_PATTERN_MESSAGES.get(key, 'is not valid here')}"
        if key == "country" and path in raw.locations.quoted:
            hint = f"quote it: \"{raw.locations.quoted[path]}\""
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        message = f"expected a whole number, got {_describe(value)}"
    elif kind in ("list_type",):
        message = f"expected a list such as [a, b], got {_describe(value)}"
        if isinstance(value, str):
            hint = f"write [{value}]"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = f"expected a mapping of keys, got {_describe(value)}"
    elif kind == "greater_than_equal":
        message = f"must be at least {ctx.get('ge')}, not {value}"
    elif kind == "less_than_equal":
        message = f"must be at most {ctx.get('le')}, not {value}"
    elif kind == "string_too_short":
        message = "must not be empty"
    elif kind == "string_too_long":
        message = f"is longer than {ctx.get('max_length')} characters"
    elif kind == "literal_error" and last == "version":
        message = f"unsupported version {value!r}"
        hint = "this tlsgen reads version: 1"
    elif kind == "literal_error":
        message = f"{_describe(value)} is not allowed; expected {ctx.get('expected')}"
    elif kind == "bool_type" or kind == "bool_parsing":
        message = f"expected yes or no, got {_describe(value)}"
    return raw.locations.diagnostic(path, message, hint)


# --- cross-checks and resolution -------------------------------------------------------------------


class _Resolver:
    def __init__(self, raw: RawSpec, parsed: schema.SpecModel, out: Path | None, now: datetime):
        self.raw, self.parsed, self.out = raw, parsed, out
        self.loc: Locations = raw.locations
        self.problems: list[Diagnostic] = []
        self.inputs: list[Path] = list(self.loc.files)
        self.now = now
        self.import_ends: dict[str, datetime] = {}  # imported CA name -> its certificate's notAfter

    def error(self, path: SpecPath, message: str, hint: str | None = None, *, key: bool = False) -> None:
        self.problems.append(self.loc.diagnostic(path, message, hint, key=key))

    def base_dir(self, path: SpecPath) -> Path:
        return self.loc.file_of(path).parent

    # Inherited settings: the value and the path where it was written (for messages about it).
    def pick(self, path: SpecPath, item: Any, name: str, builtin: Any = None) -> tuple[Any, SpecPath]:
        own = getattr(item, name)
        if own is not None:
            return own, path + (name,)
        if name in self.parsed.defaults.model_fields_set:
            return getattr(self.parsed.defaults, name), ("defaults", name)
        default = getattr(self.parsed.defaults, name) if builtin is None else builtin
        return default, path

    def resolve(self) -> model.Spec:
        self.check_unique_names()
        self.check_defaults()
        cas = self.resolve_cas()
        trusted = self.resolve_trusted()
        entities = self.resolve_entities(cas, trusted)
        output = self.output_dir()
        compose = self.resolve_compose(output)
        if self.problems:
            raise UserError(self.problems)
        return model.Spec(
            source=self.raw.source, output=output, cas=cas, entities=entities, trusted=trusted,
            compose=compose, inputs=tuple(dict.fromkeys(self.inputs)))

    def check_defaults(self) -> None:
        d = self.parsed.defaults
        if d.validity <= d.renew_before:
            both = {"validity", "renew_before"} <= d.model_fields_set
            at = ("defaults", "validity") if "validity" in d.model_fields_set else ("defaults", "renew_before")
            self.error(at, f"validity {d.validity} is not longer than renew_before {d.renew_before}"
                       + (" (at defaults.renew_before)" if both else ""),
                       "every leaf certificate would be reissued on every apply; make validity longer "
                       "or renew_before shorter")

    def check_unique_names(self) -> None:
        first: dict[str, tuple[str, SpecPath]] = {}
        named = [(section, name) for section in ("cas", "trusted", *schema.KINDS)
                 for name in getattr(self.parsed, section)]
        named.sort(key=lambda sn: self.loc.of(sn, key=True) or Place("", 0, 0))
        for section, name in named:
            if name in first:
                other_section, other_path = first[name]
                self.error((section, name), f"name '{name}' is already used by {_KIND_WORD[other_section]} "
                           f"'{name}' at {self.loc.of(other_path, key=True)}",
                           "names are unique across the whole spec; rename one", key=True)
            else:
                first[name] = (section, (section, name))

    # CAs ----------------------------------------------------------------------------------------

    def resolve_cas(self) -> dict[str, CA]:
        cas: dict[str, CA] = {}
        for name, ca in self.parsed.cas.items():
            path: SpecPath = ("cas", name)
            imported = self.read_import(path, ca.import_) if ca.import_ is not None else None
            if imported is not None and ca.issuer is not None:
                self.error(path + ("issuer",), "an imported CA is already signed; it takes no issuer",
                           "remove issuer")
            key, _ = self.pick(path, ca, "key")
            renew, _ = self.pick(path, ca, "renew_before")
            validity = ca.validity or CA_DEFAULT_VALIDITY
            subject = self.subject(ca.subject, name, with_defaults=False)
            cas[name] = CA(name=name, subject=subject, issuer=ca.issuer if imported is None else None,
                           path_length=ca.path_length, key=key, validity=validity, renew_before=renew,
                           imported=imported)
            if imported is None and validity <= renew:
                self.error(path + ("validity",) if ca.validity else path,
                           f"validity {validity} is not longer than renew_before {renew}",
                           "every apply would reissue it; make validity longer")
        self.check_ca_graph(cas)
        return cas

    def check_ca_graph(self, cas: dict[str, CA]) -> None:
        for name, ca in cas.items():
            if ca.issuer is None:
                continue
            where = ("cas", name, "issuer")
            if ca.issuer not in cas:
                self.error(where, *self.no_such("CA", ca.issuer, cas))
            elif not cas[ca.issuer].can_issue:
                self.error(where, f"CA '{ca.issuer}' is imported without its key, so it cannot sign",
                           f"add import.key to cas.{ca.issuer}")
        reported: set[frozenset] = set()
        for name in cas:
            seen: list[str] = []
            current: str | None = name
            while current is not None and current in cas and current not in seen:
                seen.append(current)
                current = cas[current].issuer
            if current is not None and current in seen:
                cycle = seen[seen.index(current):] + [current]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    self.error(("cas", current, "issuer"), "CA cycle: " + " → ".join(cycle),
                               "make one CA of the cycle a root: remove its issuer")
        if self.problems:
            return
        for name, ca in cas.items():
            depth, issuer = 1, ca.issuer
            while issuer is not None:
                parent = cas[issuer]
                if parent.path_length is not None and depth > parent.path_length:
                    self.error(("cas", name, "issuer"),
                               f"CA '{issuer}' has path_length {parent.path_length}, so it cannot have CA "
                               f"'{name}' {depth} level(s) below it",
                               f"raise cas.{issuer}.path_length to {depth} or issue '{name}' elsewhere")
                    break
                if parent.imported is None and ca.imported is None and ca.validity > parent.validity and depth == 1:
                    self.error(("cas", name, "validity") if self.parsed.cas[name].validity else ("cas", name),
                               f"validity {ca.validity} is beyond its issuer {issuer}'s validity {parent.validity}",
                               f"make it at most {parent.validity}")
                depth, issuer = depth + 1, parent.issuer

    def read_import(self, path: SpecPath, spec_import: schema.ImportSpec) -> model.ImportedCA | None:
        cert_path = self.base_dir(path + ("import", "cert")) / spec_import.cert
        self.inputs.append(cert_path)
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except OSError as exc:
            self.error(path + ("import", "cert"), f"cannot read {cert_path}: {exc.strerror}")
            return None
        except ValueError:
            self.error(path + ("import", "cert"), f"{cert_path} is not a PEM certificate")
            return None
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            self.error(path + ("import", "cert"), f"{cert_path} is not a CA certificate (basicConstraints CA:TRUE)",
                       "import the certificate of the CA, not one it issued")
            return None
        if cert.not_valid_after_utc <= self.now:
            self.error(path + ("import", "cert"), f"the CA certificate in {cert_path} expired on "
                       f"{cert.not_valid_after_utc:%Y-%m-%d}", "import its renewed certificate")
            return None
        self.import_ends[path[1]] = cert.not_valid_after_utc
        password = self.read_secret(path + ("import", "password"), spec_import.password, strip=True) \
            if spec_import.password else None
        key_pem = None
        if spec_import.key is not None:
            key_pem = self.read_secret(path + ("import", "key"), spec_import.key, strip=False)
            if key_pem is None:
                return None
            key_pem = key_pem.encode()
            try:
                key = serialization.load_pem_private_key(key_pem, password.encode() if password else None)
            except TypeError:
                self.error(path + ("import", "key"), "the CA key is encrypted", "add import.password")
                return None
            except ValueError:
                self.error(path + ("import", "key"), "not a PEM private key, or the password is wrong")
                return None
            if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
                    cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
                self.error(path + ("import", "key"), f"this key does not belong to the certificate {cert_path}")
                return None
        return model.ImportedCA(cert_file=cert_path, cert_pem=cert.public_bytes(serialization.Encoding.PEM),
                                key_pem=key_pem, key_password=Secret(password) if password else None)

    def read_secret(self, path: SpecPath, source: schema.EnvRef | schema.FileRef, *, strip: bool) -> str | None:
        if isinstance(source, schema.EnvRef):
            value = os.environ.get(source.env)
            if value is None:
                self.error(path + ("env",), f"environment variable {source.env} is not set",
                           f"export {source.env}=... before running tlsgen")
                return None
        else:
            file = self.base_dir(path + ("file",)) / source.file
            self.inputs.append(file)
            try:
                value = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.error(path + ("file",), f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
                return None
        return value.rstrip("\r\n") if strip else value

    # Trusted certificates -----------------------------------------------------------------------

    def resolve_trusted(self) -> dict[str, Trusted]:
        trusted = {}
        for name, item in self.parsed.trusted.items():
            path: SpecPath = ("trusted", name, "file")
            file = self.base_dir(path) / item.file
            self.inputs.append(file)
            try:
                certs = x509.load_pem_x509_certificates(file.read_bytes())
            except OSError as exc:
                self.error(path, f"cannot read {file}: {exc.strerror}")
                continue
            except ValueError:
                self.error(path, f"{file} holds no PEM certificate")
                continue
            trusted[name] = Trusted(name, file, tuple(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        return trusted

    # Entities -----------------------------------------------------------------------------------

    def resolve_entities(self, cas: dict[str, CA], trusted: dict[str, Trusted]) -> dict[str, Entity]:
        parsed = {(kind, name): item for kind in schema.KINDS for name, item in getattr(self.parsed, kind).items()}
        kind_of = {name: kind for kind, name in parsed}
        entities: dict[str, Entity] = {}
        for (kind, name), item in parsed.items():
            entity = self.resolve_entity(kind, name, item, cas, kind_of)
            if entity is not None:
                entities[name] = entity
        self.check_mounts(entities)
        for e in entities.values():
            self.check_explicit_trust(e, cas, trusted)
        if self.problems:  # default trust follows issuers and references, which must all be sound first
            return entities
        return {name: self.with_default_trust(e, entities, cas) for name, e in entities.items()}

    def resolve_entity(self, kind: str, name: str, item: Any, cas: dict[str, CA], kind_of: dict[str, str]) -> Entity | None:
        path: SpecPath = (kind, name)
        if item.issuer not in cas:
            self.error(path + ("issuer",), *self.no_such("CA", item.issuer, cas))
        elif not cas[item.issuer].can_issue:
            self.error(path + ("issuer",), f"CA '{item.issuer}' is imported without its key, so it cannot issue",
                       f"add import.key to cas.{item.issuer}, or choose another issuer")
        key, _ = self.pick(path, item, "key")
        validity, validity_at = self.pick(path, item, "validity")
        renew, renew_at = self.pick(path, item, "renew_before")
        own = {validity_at, renew_at} & {path + ("validity",), path + ("renew_before",)}
        if validity <= renew and own:  # both inherited: check_defaults says it once
            at = validity_at if validity_at in own else renew_at
            other = renew_at if at == validity_at else validity_at
            self.error(at, f"validity {validity} is not longer than renew_before {renew}"
                       + (f" (at {dotted(other)})" if other not in own and other != path else ""),
                       "every apply would reissue it; make validity longer or renew_before shorter")
        issuer = cas.get(item.issuer)
        if issuer is not None and self.chain_is_sound(cas, item.issuer):
            # a certificate ends no later than its issuers: one that ends within renew_before is reissued every apply
            for ca in model.chain_of(cas, item.issuer):
                end = self.import_ends.get(ca.name)
                if end is not None and end - self.now <= renew.delta:
                    self.error(("cas", ca.name, "import", "cert"), f"the CA certificate in {ca.imported.cert_file} "
                               f"ends on {end:%Y-%m-%d}, within renew_before {renew}",
                               "every apply would reissue what it signs; import its renewed certificate")
        if issuer is not None and issuer.imported is None and validity > issuer.validity:
            self.error(validity_at, f"validity {validity} is beyond its issuer {issuer.name}'s validity {issuer.validity}",
                       f"make it at most {issuer.validity}")
        keystore, keystore_at = self.pick(path, item, "keystore")
        truststore, _ = self.pick(path, item, "truststore")
        if kind == "workers" and keystore == "pem":
            self.error(keystore_at, "a worker's KAFKA_OPTS needs a pkcs12 or jks keystore, not pem",
                       "set keystore: pkcs12 on this worker")
        if kind == "workers" and truststore == "pem":
            self.error(self.pick(path, item, "truststore")[1],
                       "a worker's KAFKA_OPTS needs a pkcs12 or jks truststore, not pem",
                       "set truststore: pkcs12 on this worker")
        pkcs12, _ = self.pick(path, item, "pkcs12")
        mount, mount_at = self.pick(path, item, "mount")
        image = getattr(item, "image", None)
        image_at = path + ("image",) if image is not None else ("defaults", "image")
        image = image or self.parsed.defaults.image
        if kind == "servers":
            image = "none"
        if image in ("apache", "confluent") and mount.rstrip("/") != schema.KAFKA_IMAGE_MOUNT:
            self.error(mount_at if mount_at != path else image_at,
                       f"the {image} image reads its secrets from {schema.KAFKA_IMAGE_MOUNT}, not {mount}",
                       f"use mount: {schema.KAFKA_IMAGE_MOUNT}, or image: none")
        if kind == "brokers" and image in ("apache", "confluent"):
            problem = image_env_problem(_Stores(keystore, truststore, getattr(item, "client_auth", None)))
            if problem:
                self.error(keystore_at if keystore == "pem" else self.pick(path, item, "truststore")[1], problem,
                           "use pkcs12 or jks with this image, or image: none and server.properties")
        password = self.entity_password(path, item)
        owner_text, _ = self.pick(path, item, "owner")
        owner = None
        if owner_text:
            uid, _, gid = owner_text.partition(":")
            owner = (int(uid), int(gid) if gid else None)
        hostnames = item.hostnames if item.hostnames is not None else ([name] if kind in model.SERVING_KINDS else [])
        hostnames = self.check_hostnames(path, hostnames, explicit=item.hostnames is not None)
        ips = self.check_ips(path, item.ip_addresses or [])
        if kind in model.SERVING_KINDS and not hostnames and not ips:
            self.error(path + ("hostnames",), f"a {_KIND_WORD[kind]} needs at least one hostname or IP address: "
                       "its clients verify its certificate against them", "remove hostnames: [] to use [name]")
        service = item.service if "service" in item.model_fields_set else name
        references = {}
        for field_name, allowed_kinds in (("brokers", ("brokers",)), ("connects_to", ("servers", "brokers"))):
            names = getattr(item, field_name, None) or []
            for i, ref in enumerate(names):
                if kind_of.get(ref) not in allowed_kinds:
                    choices = [n for n, k in kind_of.items() if k in allowed_kinds]
                    what = " or ".join(_KIND_WORD[k] for k in allowed_kinds)
                    if ref in kind_of:
                        self.error(path + (field_name, i), f"'{ref}' is a {_KIND_WORD[kind_of[ref]]}, not a {what}")
                    else:
                        self.error(path + (field_name, i), *self.no_such(what, ref, choices))
            references[field_name] = tuple(dict.fromkeys(names))
        return Entity(
            kind=kind, name=name, issuer=item.issuer, subject=self.subject(item.subject, name, with_defaults=True),
            key=key, validity=validity, renew_before=renew, keystore=keystore, truststore=truststore, pkcs12=pkcs12,
            password=password, mount=mount, owner=owner, trust=tuple(item.trust) if item.trust is not None else (),
            service=service, hostnames=tuple(hostnames), ip_addresses=tuple(ips), image=image,
            port=getattr(item, "port", None), client_auth=getattr(item, "client_auth", None),
            brokers=references.get("brokers", ()), connects_to=references.get("connects_to", ()))

    def entity_password(self, path: SpecPath, item: Any) -> Secret | None:
        source, at = self.pick(path, item, "password")
        if source == "generate":
            return None
        value = self.read_secret(at, source, strip=True)
        if value is None:
            return None
        if not value:
            self.error(at, "the password is empty", "Java keystores need a password")
        elif not PASSWORD_RE.match(value):
            bad = sorted({c for c in value if not PASSWORD_RE.match(c)})
            shown = " ".join("space" if c == " " else repr(c) for c in bad)
            self.error(at, f"the password holds characters that env files, compose or KAFKA_OPTS cannot carry: {shown}",
                       "use letters, digits and -_.:@%+=,/~^!, or password: generate")
        return Secret(value)

    def subject(self, subject: schema.Subject | None, name: str, *, with_defaults: bool) -> model.Subject:
        base = self.parsed.defaults.subject if with_defaults else schema.Subject()
        values = {**base.model_dump(exclude_none=True), **(subject.model_dump(exclude_none=True) if subject else {})}
        if not with_defaults:  # CAs take defaults.subject too, below their own attributes
            values = {**self.parsed.defaults.subject.model_dump(exclude_none=True), **values}
        values.setdefault("common_name", name)
        return tuple((short, values[field]) for short, field in model.SUBJECT_ORDER if field in values)

    @staticmethod
    def chain_is_sound(cas: dict[str, CA], name: str) -> bool:
        seen = set()
        while name is not None:
            if name not in cas or name in seen:
                return False
            seen.add(name)
            name = cas[name].issuer
        return True

    def check_hostnames(self, path: SpecPath, hostnames: list[str], *, explicit: bool) -> list[str]:
        seen: dict[str, int] = {}
        for i, host in enumerate(hostnames):
            at = path + ("hostnames", i) if explicit else path
            labels = host[2:].split(".") if host.startswith("*.") else host.split(".")
            if _is_ip(host):
                self.error(at, f"'{host}' is an IP address, not a hostname", "move it to ip_addresses")
            elif len(host) > 253 or not all(schema.LABEL_RE.match(label) for label in labels):
                self.error(at, f"'{host}' is not a valid hostname",
                           "use letters, digits and '-' in dot-separated labels; a wildcard only as a leading '*.'")
            elif host.lower() in seen:
                self.error(at, f"hostname '{host}' is listed twice", "remove one")
            seen[host.lower()] = i
        return hostnames

    def check_ips(self, path: SpecPath, ips: list[str]) -> list[str]:
        result, seen = [], set()
        for i, text in enumerate(ips):
            try:
                ip = ipaddress.ip_address(str(text).strip("[]"))
            except ValueError:
                self.error(path + ("ip_addresses", i), f"'{text}' is not an IPv4 or IPv6 address",
                           "hostnames go in hostnames")
                continue
            if ip in seen:
                self.error(path + ("ip_addresses", i), f"IP address {ip} is listed twice", "remove one")
            seen.add(ip)
            result.append(str(ip))
        return result

    def check_mounts(self, entities: dict[str, Entity]) -> None:
        taken: dict[tuple[str, str], str] = {}
        for name, e in entities.items():
            if e.service is None:
                continue
            slot = (e.service, e.mount.rstrip("/"))
            if slot in taken:
                self.error((e.kind, name), f"'{name}' and '{taken[slot]}' both mount into service '{e.service}' "
                           f"at {e.mount}", "give one of them another service or mount", key=True)
            else:
                taken[slot] = name

    def check_explicit_trust(self, e: Entity, cas: dict[str, CA], trusted: dict[str, Trusted]) -> None:
        trust = getattr(self.parsed, e.kind)[e.name].trust
        path: SpecPath = (e.kind, e.name, "trust")
        if trust is None:
            return
        if not trust:
            self.error(path, "an empty trust list leaves an empty truststore, which Java refuses",
                       "name at least one CA, or remove trust to use the default")
        for i, ref in enumerate(trust):
            if ref not in cas and ref not in trusted:
                self.error(path + (i,), *self.no_such("CA or trusted certificate", ref, [*cas, *trusted]))

    def with_default_trust(self, e: Entity, entities: dict[str, Entity], cas: dict[str, CA]) -> Entity:
        """SPEC's default trust, so that every mutual-TLS pair of the spec just works."""
        if getattr(self.parsed, e.kind)[e.name].trust is not None:
            return e
        brokers = [b for b in entities.values() if b.kind == "brokers"]
        peers = [entities[n] for n in e.connects_to]
        # A Kafka client bootstraps from the brokers it lists, then talks to every broker of the cluster
        # (partition leaders); brokers talk to each other. So all brokers count as one peer group.
        if e.brokers or e.kind == "brokers":
            peers += brokers
        if e.serves:
            peers += [o for o in entities.values() if e.name in o.connects_to]
        if e.kind == "brokers":
            peers += [o for o in entities.values() if o.brokers]
        roots = [model.chain_of(cas, issuer)[-1].name for issuer in [e.issuer, *(p.issuer for p in peers)]]
        return replace(e, trust=tuple(dict.fromkeys(roots)))

    # Output and compose -------------------------------------------------------------------------

    def output_dir(self) -> Path:
        if self.out is not None:
            return self.out
        if self.parsed.output:
            output = Path(os.path.normpath(self.base_dir(("output",)) / self.parsed.output))
            if any(output.absolute() in (f.absolute(), *f.absolute().parents) for f in self.loc.files):
                self.error(("output",), f"the output directory {output} holds the spec itself: its .gitignore ('*') "
                           "would keep the spec out of git", "give out/ a directory of its own, such as ../out")
            return output
        return Path("out")

    def resolve_compose(self, output: Path) -> Compose:
        c = self.parsed.compose
        if c.file is not None:
            parts = Path(c.file).parts
            if Path(c.file).is_absolute() or ".." in parts or not parts:
                self.error(("compose", "file"), f"'{c.file}' must be a relative path inside the output directory",
                           "such as compose.tls.yaml")
            elif parts[0] in (*schema.KINDS, "cas", ".tlsgen", ".gitignore"):
                self.error(("compose", "file"), f"'{c.file}' would collide with tlsgen's own files",
                           "such as compose.tls.yaml")
        if c.project_dir is not None:
            project = Path(os.path.normpath(self.base_dir(("compose", "project_dir")) / c.project_dir))
        else:
            project = Path(os.path.normpath(output.absolute().parent))
        return Compose(file=c.file, project_dir=project)

    @staticmethod
    def no_such(what: str, name: str, choices) -> tuple[str, str | None]:
        return f"no {what} named '{name}'", did_you_mean(name, choices)


@dataclass(frozen=True)
class _Stores:
    """The store settings image_env_problem looks at, before the Entity exists."""

    keystore: str
    truststore: str
    client_auth: str | None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
