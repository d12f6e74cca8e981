"""The spec's shapes checked by pydantic, entry by entry, with its errors in the user's words and places.

Each entry (defaults field by field, each CA, entity and trusted certificate, compose) is validated on
its own, so that one entry's schema error does not hide the cross-reference errors of the others.
What did not parse is named in `Parsed.failed` / `Parsed.broken`: the checks that follow leave it
alone, so no error is a follow-on of another (no "no CA named 'x'" when CA x exists but is invalid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..diagnostics import Diagnostic, did_you_mean
from ..model.topology import KINDS
from . import schema
from .kafka import AclSpec, KafkaSpec
from .loader import NAMED_SECTIONS, RawSpec, SpecPath, dotted

NAMED_MODELS = dict(zip(NAMED_SECTIONS, (schema.CASpec, schema.BrokerSpec, schema.ClientSpec, schema.WorkerSpec,
                                         schema.ServerSpec, schema.TrustedSpec)))
_MODEL_OF_SECTION = {**NAMED_MODELS, "defaults": schema.Defaults, "compose": schema.ComposeSpec, "kafka": KafkaSpec,
                     "kubernetes": schema.KubernetesSpec}
_NESTED_MODELS = {"subject": schema.Subject, "import": schema.ImportSpec, "strimzi": schema.StrimziSpec,
                  "password": None, "key": None}
_PATTERN_MESSAGES = {
    "country": "must be a two-letter country code in capitals, such as GB",
    "mount": "must be an absolute directory below / of letters, digits and ._@+:-, without '.' or '..' parts, "
             "such as /etc/kafka/secrets",
    "owner": "must be UID or UID:GID, in numbers, such as 1000:1000",
    "service": "is not a compose service name (letters, digits, '.', '_', '-')",
    "namespace": "is not a Kubernetes namespace (lowercase letters, digits and '-', at most 63, such as kafka)",
    "services_from": "holds a line break or another control character, which no compose file's name needs",
}
# Values under these keys may be secrets (a password typed where a variable name goes): never quoted back.
_SECRET_KEYS = ("password", "env")
_STRUCTURAL = {"missing", "extra_forbidden", "literal_error", "model_type", "dict_type", "model_attributes_type"}


@dataclass
class Parsed:
    defaults: schema.Defaults
    output: str | None
    compose: schema.ComposeSpec
    entries: dict[str, dict[str, Any]]  # section -> name -> its pydantic model, for the entries that parsed
    names: list[tuple[str, str]]  # (section, name) of every entry written, parsed or not, in spec order
    failed: dict[str, str] = field(default_factory=dict)  # name -> section, of entries that did not parse
    kubernetes: schema.KubernetesSpec | None = None
    broken: set[SpecPath] = field(default_factory=set)  # settings that did not parse: ("defaults", "key"), ("output",)
    problems: list[Diagnostic] = field(default_factory=list)
    kafka: KafkaSpec = field(default_factory=KafkaSpec)  # the built-in one when it did not parse

    def entities(self) -> list[tuple[str, str, Any]]:
        return [(kind, name, item) for kind in KINDS for name, item in self.entries[kind].items()]


def parse(raw: RawSpec) -> Parsed:
    """Every entry that parses, and a located diagnostic for each schema error of the others."""
    data = {k: ({} if v is None and k in _MODEL_OF_SECTION and k != "kubernetes" else v) for k, v in raw.data.items()}
    errors: list[dict] = []
    broken: set[SpecPath] = set()
    # the top level alone: version, output, unknown keys, sections that are not mappings
    _validated(schema.SpecModel, {k: ({} if k in _MODEL_OF_SECTION and isinstance(v, dict) else v)
                                  for k, v in data.items() if not (k == "kubernetes" and isinstance(v, dict))},
               (), errors, broken)
    defaults = _defaults(data.get("defaults"), errors, broken)
    compose = isinstance(data.get("compose"), dict) and \
        _validated(schema.ComposeSpec, data["compose"], ("compose",), errors, broken)
    kafka = _defaults(data.get("kafka"), errors, broken, KafkaSpec, "kafka")
    parsed = Parsed(defaults=defaults, output=data.get("output") if ("output",) not in broken else None,
                    compose=compose or schema.ComposeSpec(), entries={section: {} for section in NAMED_MODELS},
                    names=[], broken=broken, kafka=kafka)
    if isinstance(data.get("kubernetes"), dict):
        parsed.kubernetes = _validated(schema.KubernetesSpec, data["kubernetes"], ("kubernetes",), errors, broken)
    for section in NAMED_MODELS:
        _parse_entries(parsed, section, data.get(section), errors)
    said = {d.path for d in raw.problems}  # e.g. the loader's "missing 'version: 1'", with its file
    parsed.problems = [d for d in (_translate(raw, e) for e in _closest_branches(raw.data, errors))
                       if d.path not in said]
    return parsed


_ADAPTERS = {section: TypeAdapter(dict[schema.Name, model]) for section, model in NAMED_MODELS.items()}


def _parse_entries(parsed: Parsed, section: str, entries: Any, errors: list[dict]) -> None:
    """Each entry of a named section on its own, so one that fails leaves the others to be checked."""
    if not isinstance(entries, dict):
        if entries is not None:
            parsed.broken.add((section,))
        return
    for name, entry in entries.items():
        parsed.names.append((section, name))
        try:
            parsed.entries[section].update(_ADAPTERS[section].validate_python({name: entry}))
        except ValidationError as exc:
            errors += [{**e, "loc": (section, *e["loc"])} for e in exc.errors(include_url=False)]
            parsed.failed[name] = section


def _validated(model: Any, value: Any, prefix: SpecPath, errors: list[dict], broken: set[SpecPath]) -> Any:
    """The model, or None with its errors (placed under `prefix`) and the settings that failed noted."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        found = [{**e, "loc": (*prefix, *e["loc"])} for e in exc.errors(include_url=False)]
        errors += found
        broken |= {tuple(e["loc"][:len(prefix) + 1]) for e in found}
        return None


def _defaults(value: Any, errors: list[dict], broken: set[SpecPath], model: Any = schema.Defaults,
              section: str = "defaults") -> Any:
    """`defaults` (or `kafka`), with the built-in value of each field that did not parse (those fields are
    noted broken)."""
    if not isinstance(value, dict):
        return model()  # not a mapping: the top level's error, and (section,) is broken
    parsed = _validated(model, value, (section,), errors, broken)
    if parsed is not None:
        return parsed
    bad = {path[1] for path in broken if path[:1] == (section,) and len(path) > 1}
    try:
        return model.model_validate({k: v for k, v in value.items() if k not in bad})
    except ValidationError:
        broken.add((section,))
        return model()


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
    if len(path) >= 3 and path[-3] == "acls" and isinstance(path[-2], int):  # a key of one ACL binding
        return list(AclSpec.model_fields)
    depth = 2 if section in ("defaults", "compose", "kafka", "kubernetes") else 3
    if len(path) == depth and model_cls is not None:
        return [f.alias or n for n, f in model_cls.model_fields.items()]
    parent = path[-2] if len(path) >= 2 else None
    nested = _NESTED_MODELS.get(parent) if isinstance(parent, str) else None
    if nested is not None:
        return [f.alias or n for n, f in nested.model_fields.items()]
    return ["env", "file"]


def _describe(value: Any, *, secret: bool = False) -> str:
    """The value in words; under a secret's key, only its kind."""
    if isinstance(value, bool):
        return "a yes/no value"
    if isinstance(value, (int, float)):
        return "a number" if secret else f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return "some text" if secret else repr(value)


def _translate(raw: RawSpec, err: dict) -> Diagnostic:
    path, is_key = _data_path(raw.data, tuple(err["loc"]))
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    last = path[-1] if path else ""
    if kind == "extra_forbidden":
        return raw.locations.diagnostic(path, f"unknown key '{last}'",
                                        did_you_mean(str(last), _allowed_keys(path)), key=True)
    if kind == "missing":  # named by its own path, placed at the mapping that lacks it
        return Diagnostic(raw.locations.of(path[:-1], key=True), dotted(path), f"missing required key '{last}'")
    if is_key:
        return raw.locations.diagnostic(path, err["msg"], key=True)
    secret = any(part in _SECRET_KEYS for part in path if isinstance(part, str))
    message, hint = _message(kind, ctx, value, last, _describe(value, secret=secret))
    if kind == "string_type" and path in raw.locations.quoted and not secret:
        written = raw.locations.quoted[path]
        hint = f"YAML reads {written} as {_describe(value)}; quote it: \"{written}\""
    elif kind == "string_pattern_mismatch":
        key = next((p for p in reversed(path) if isinstance(p, str)), "")
        if key == "env":  # likely a password typed where its variable's name goes: never echo it
            message = ("this is not an environment variable name (letters, digits and '_', not starting with a "
                       "digit); it is not shown here, in case it is a password")
            hint = "write the variable's name, such as {env: KAFKA_PASSWORD}"
        else:
            message = f"{value!r} {_PATTERN_MESSAGES.get(key, 'is not valid here')}"
        if key == "country" and path in raw.locations.quoted:
            hint = f"quote it: \"{raw.locations.quoted[path]}\""
    elif kind == "list_type" and isinstance(value, str) and not secret:
        hint = f"write [{value}]"
    return raw.locations.diagnostic(path, message or err["msg"], hint)


def _message(kind: str, ctx: dict, value: Any, last: Any, described: str) -> tuple[str | None, str | None]:
    """The message for a pydantic error type, and a hint where one helps; None: pydantic's own words."""
    if kind == "string_type":
        return f"expected text, got {described}", None
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {described}", None
    if kind == "list_type":
        return f"expected a list such as [a, b], got {described}", None
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {described}", None
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, not {value}", None
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, not {value}", None
    if kind == "string_too_short":
        return "must not be empty", None
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters", None
    if kind == "literal_error" and last == "version":
        return f"unsupported version {value!r}", "this tlsgen reads version: 1"
    if kind == "literal_error":
        return f"{described} is not allowed; expected {ctx.get('expected')}", None
    if kind in ("bool_type", "bool_parsing"):
        return f"expected yes or no, got {described}", None
    return None, None
