"""Read a spec file or directory into plain data, remembering where every value was written.

pyyaml's composer gives each node its start mark; we build the Python values ourselves so that
every value's spec path maps to `file:line:col`, and so that duplicate keys are errors (pyyaml's
constructor silently keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..diagnostics import Diagnostic, Place, UserError, display_path

SpecPath = tuple[str | int, ...]

# Top-level sections whose entries are named things, merged by name across a spec directory.
NAMED_SECTIONS = ("cas", "brokers", "clients", "workers", "servers", "trusted")
# Top-level mappings merged field by field across a spec directory.
MERGED_SECTIONS = ("defaults", "compose")


def dotted(path: SpecPath) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


@dataclass
class Locations:
    """Where each value (and each mapping key) of the merged spec was written."""

    values: dict[SpecPath, Place] = field(default_factory=dict)
    keys: dict[SpecPath, Place] = field(default_factory=dict)
    quoted: dict[SpecPath, str] = field(default_factory=dict)  # plain scalars YAML did not read as text → as written
    files: list[Path] = field(default_factory=list)

    def of(self, path: SpecPath, *, key: bool = False) -> Place | None:
        """The place of `path`, or of its nearest written ancestor (a missing field points at its parent)."""
        table = (self.keys, self.values) if key else (self.values, self.keys)
        for cut in range(len(path), -1, -1):
            for t in table:
                place = t.get(path[:cut])
                if place is not None:
                    return place
        return None

    def file_of(self, path: SpecPath) -> Path:
        """The spec file a value was written in: relative paths in it are relative to that file."""
        place = self.of(path)
        for f in self.files:
            if place and display_path(f) == place.file:
                return f
        return self.files[0]

    def diagnostic(self, path: SpecPath, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        return Diagnostic(self.of(path, key=key), dotted(path), message, hint)


@dataclass
class RawSpec:
    data: dict[str, Any]
    locations: Locations
    source: Path  # the file or directory the user named
    problems: list[Diagnostic] = field(default_factory=list)  # found while merging; reported with the model's


def spec_files(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise UserError.single(f"{display_path(source)}: no *.yaml or *.yml files in this directory",
                                   "create one with `tlsgen init`")
        return files
    if not source.exists():
        raise UserError.single(f"{display_path(source)}: no such file or directory",
                               "name a spec file or directory, or create one with `tlsgen init`")
    return [source]


class _Builder:
    """Turns one file's node tree into values, recording places and collecting diagnostics."""

    def __init__(self, file: Path, locations: Locations, problems: list[Diagnostic]):
        self.file = display_path(file)
        self.locations = locations
        self.problems = problems

    def place(self, node: yaml.Node) -> Place:
        mark = node.start_mark
        return Place(self.file, mark.line + 1, mark.column + 1)

    def build(self, loader: yaml.SafeLoader, node: yaml.Node, path: SpecPath) -> Any:
        self.locations.values[path] = self.place(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(loader, node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(loader, item, path + (i,)) for i, item in enumerate(node.value)]
        value = loader.construct_object(node, deep=True)
        if node.style is None and not isinstance(value, str):
            self.locations.quoted[path] = node.value  # e.g. NO → False, 1.0 → float: hints suggest quoting
        return value

    def _mapping(self, loader: yaml.SafeLoader, node: yaml.MappingNode, path: SpecPath) -> dict:
        seen: dict[Any, Place] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = loader.construct_object(key_node)
                if key in seen:
                    self.problems.append(Diagnostic(
                        self.place(key_node), dotted(path + (str(key),)),
                        f"duplicate key '{key}' (first written at line {seen[key].line})",
                        "YAML would silently keep only the last one; remove one of them"))
                else:
                    seen[key] = self.place(key_node)
        loader.flatten_mapping(node)  # `<<: *anchor` merges; explicit keys win, as in YAML
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                self.problems.append(Diagnostic(self.place(key_node), dotted(path),
                                                f"key {key!r} must be text", "quote it"))
                key = str(key)
            self.locations.keys[path + (key,)] = self.place(key_node)
            result[key] = self.build(loader, value_node, path + (key,))
        return result


def _parse_file(file: Path, locations: Locations, problems: list[Diagnostic], fatal: list[Diagnostic]) -> Any:
    """The file's values; unreadable YAML goes to `fatal`, problems that leave the values known to `problems`."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fatal.append(Diagnostic(Place(display_path(file), 1, 1), "", f"cannot read this file: {exc}"))
        return None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _Builder(file, locations, problems).build(loader, node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        place = Place(display_path(file), mark.line + 1, mark.column + 1) if mark else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        if exc.context_mark is not None and exc.problem_mark is not None and \
                exc.context_mark.line != exc.problem_mark.line:
            # an unclosed bracket or quote is found far from where it opened: say where
            opened = exc.context_mark
            what += f" (opened at line {opened.line + 1}, column {opened.column + 1})"
        fatal.append(Diagnostic(place, "", f"YAML syntax error: {what}"))
        return None
    finally:
        loader.dispose()


def load(source: Path) -> RawSpec:
    """Parse and merge the spec; raise UserError with every problem found on the way."""
    locations = Locations()
    problems: list[Diagnostic] = []
    fatal: list[Diagnostic] = []
    merged: dict[str, Any] = {}
    for file in spec_files(source):
        locations.files.append(file)
        file_locations = Locations(files=[file])
        data = _parse_file(file, file_locations, problems, fatal)
        here = Place(display_path(file), 1, 1)
        if data is None and not any(p.place and p.place.file == here.file for p in fatal):
            fatal.append(Diagnostic(here, "", "empty spec file", "start it with `version: 1`"))
        if not isinstance(data, dict):
            if data is not None:
                fatal.append(Diagnostic(here, "", "a spec file must be a mapping of sections",
                                           "start it with `version: 1`"))
            continue
        _merge_file(merged, data, file_locations, locations, problems, here)
    if fatal:
        raise UserError(fatal + problems)  # a file could not be read as YAML: its values are unknown
    return RawSpec(merged, locations, source, problems)


def _merge_file(merged: dict, data: dict, mine: Locations, into: Locations,
                problems: list[Diagnostic], here: Place) -> None:
    """Merge one file into the spec; a name or field defined in two files is an error naming both."""
    if "version" not in data:
        problems.append(Diagnostic(here, "version", "missing 'version: 1'",
                                   "every file of a spec starts with `version: 1`"))

    taken: set[SpecPath] = set()  # sections and named entries of this file that made it into the spec

    def take(path: SpecPath) -> None:
        taken.add(path)

    def clash(path: SpecPath, what: str) -> None:
        first = into.of(path, key=True)
        problems.append(Diagnostic(mine.of(path, key=True), dotted(path),
                                   f"{what} is defined twice: here and at {first}",
                                   "keep one of them"))

    for section, value in data.items():
        if section == "version":
            if "version" not in merged:
                merged["version"] = value
                take(("version",))
            elif value != merged["version"]:
                take_place = mine.of(("version",))
                problems.append(Diagnostic(take_place, "version",
                                           f"version {value!r} differs from {merged['version']!r} at {into.of(('version',))}"))
            continue
        if section in NAMED_SECTIONS + MERGED_SECTIONS and isinstance(value, dict) and isinstance(merged.get(section, {}), dict):
            target = merged.setdefault(section, {})
            if (section,) not in into.values:
                take_place = mine.values.get((section,))
                into.values[(section,)] = take_place
                into.keys[(section,)] = mine.keys.get((section,))
            for name, item in value.items():
                if name in target:
                    kind = "name" if section in NAMED_SECTIONS else "field"
                    clash((section, name), f"{kind} '{name}'")
                    continue
                target[name] = item
                take((section, name))
            continue
        if section in merged:
            clash((section,), f"'{section}'")
            continue
        merged[section] = value
        take((section,))
    # Copy the places of what was taken, in one pass (a spec may hold thousands of entries).
    for table_from, table_to in ((mine.values, into.values), (mine.keys, into.keys)):
        for p, place in table_from.items():
            if p[:1] in taken or p[:2] in taken:
                table_to[p] = place
    into.quoted.update((p, v) for p, v in mine.quoted.items() if p[:1] in taken or p[:2] in taken)
