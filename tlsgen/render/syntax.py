"""How each file format spells a setting: Java properties, librdkafka's `key=value`, env files, YAML.

A file is a list of entries: a `(key, value)` pair is a setting, a str is a comment (each of its
lines gets `# `; an empty str is a blank line). The writers refuse what their reader would
misread instead of writing it quietly wrong.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Union

Entry = Union[str, tuple[str, str]]


def _comment(text: str) -> list[str]:
    if text == "":
        return [""]
    return [f"# {line}".rstrip() for line in text.split("\n")]


def _lines(entries: Iterable[Entry], setting) -> str:
    out: list[str] = []
    for entry in entries:
        out.extend(_comment(entry) if isinstance(entry, str) else [setting(*entry)])
    return "\n".join(out) + "\n"


# Printable ASCII but `\`, and no leading space: what java_value leaves as it is (empty too).
_JAVA_AS_IS = re.compile(r"(?:[!-\[\]-~][ -\[\]-~]*)?")


def java_value(value: str) -> str:
    r"""A value as java.util.Properties.load reads it back: that reads ISO-8859-1 and takes `\` as an
    escape, and Kafka loads its files with it (Utils.loadProps), so escape `\`, a leading space and
    anything outside printable ASCII. `=`, `:`, `#` and `!` inside a value are literal there."""
    if _JAVA_AS_IS.fullmatch(value):  # nearly every value: printed as it is
        return value
    out = []
    for i, ch in enumerate(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch == " " and i == 0:
            out.append("\\ ")
        elif ch in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[ch])
        elif not (0x20 <= ord(ch) < 0x7F):
            out.append("".join(f"\\u{unit:04x}" for unit in _utf16_units(ch)))
        else:
            out.append(ch)
    return "".join(out)


def _utf16_units(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def java_properties(entries: Iterable[Entry]) -> str:
    return _lines(entries, lambda k, v: f"{k}={java_value(v)}")


def librdkafka_properties(entries: Iterable[Entry]) -> str:
    """librdkafka has no file reader of its own; its tools (kcat -F, the examples) split each line at
    the first `=` and take the rest verbatim, so values are written as they are."""
    def setting(key: str, value: str) -> str:
        if "\n" in value:
            raise ValueError(f"{key}: a librdkafka properties value cannot hold a line break")
        return f"{key}={value}"
    return _lines(entries, setting)


# Characters that Compose's env_file readers do not keep as written, in at least one of them:
#   docker-compose v1 (python-dotenv): expands ${VAR} (even inside single quotes) and keeps $$ as two;
#   Compose v2 (compose-go dotenv): expands $VAR and ${VAR} and reads $$ as one $ in unquoted values,
#   strips a leading quote pair, and ends an unquoted value at `#` (older releases at any `#`);
#   both take `\` as an escape in some positions.
# So no escaping carries a `$` through both: such a value is refused. Passwords cannot hold any of
# these (model.rules.PASSWORD_RE); only an unusual mount path could.
ENV_UNSAFE = re.compile(r"""[$"'`\\#\s]""")


def env_value(key: str, value: str, *, words: bool = False) -> str:
    """`value` unchanged if every env_file reader keeps it so; `words` allows single spaces between
    words (KAFKA_OPTS, which the images' scripts word-split, so no word may hold a space itself)."""
    for word in (value.split(" ") if words else [value]):
        bad = ENV_UNSAFE.search(word)
        if bad or (words and not word):
            what = repr(bad.group()) if bad else "an empty word"
            raise ValueError(f"{key}: {value!r} holds {what}, which Compose's env_file readers "
                             "(v1 and v2 differ) do not pass through unchanged")
    return value


def dotenv(entries: Iterable[Entry], *, words: frozenset[str] = frozenset()) -> str:
    return _lines(entries, lambda k, v: f"{k}={env_value(k, v, words=k in words)}")


# YAML 1.1 (PyYAML, docker-compose v1) reads these plain scalars as booleans or null, not strings.
_YAML_SPECIAL = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
_YAML_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def yaml_key(key: str) -> str:
    if _YAML_PLAIN_KEY.match(key) and key.lower() not in _YAML_SPECIAL:
        return key
    return json.dumps(key)


def compose_string(value: str) -> str:
    """A string in a compose file: `$` doubled, since Compose (v1 and v2) interpolates the whole
    file and reads `$$` as one literal `$`; then double-quoted (JSON strings are YAML strings)."""
    return json.dumps(value.replace("$", "$$"))
