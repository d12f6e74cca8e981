"""The machinery of the rule tables (test_rules.py, test_kafka_rules.py): a row is a small spec, the
one rule under test and every line it must report; `draft_of` runs the real loader, schema and
resolver on it in the current directory, as tlsgen would."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tlsgen.model.resolve import Draft, resolve
from tlsgen.model.sources import Sources
from tlsgen.spec.loader import load
from tlsgen.spec.translate import parse

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
ROOT = "version: 1\ncas:\n  root: {}\n"  # lines 1-3


@dataclass
class Row:
    id: str
    rule: Callable
    spec: str
    expected: list[str]
    files: Callable[[], dict[str, bytes]] = dict  # written beside tls.yaml first
    env: dict[str, str] = field(default_factory=dict)
    out: str | None = None  # --out


def draft_of(project: Path, row: Row) -> Draft:
    (project / "tls.yaml").write_text(row.spec, encoding="utf-8")
    for name, content in row.files().items():
        (project / name).write_bytes(content)
    raw = load(Path("tls.yaml"))
    return resolve(parse(raw), Sources(raw.locations), Path(row.out) if row.out else None, Path("tls.yaml"), NOW)
