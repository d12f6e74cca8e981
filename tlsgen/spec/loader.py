"""Read a spec file or directory into plain data, remembering where every value was written.

pyyaml's composer gives each node its start mark; we build the Python values ourselves so that
every value's spec path maps to `file:line:col`, and so that duplicate keys are errors (pyyaml's
constructor silently keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from ..diagnostics import Diagnostic, Place, UserError, display_path
from ..model.topology import KINDS
from .files import SPEC_FILE_LIMIT, UnreadableFile, read_regular_file

SpecPath = tuple[str | int, ...]

# Top-level sections whose entries are named things, merged by name across a spec directory.
NAMED_SECTIONS = ("cas", *KINDS, "trusted")
# Top-level mappings merged field by field across a spec directory.
MERGED_SECTIONS = ("defaults", "compose", "kafka")


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


# Bounds on what one YAML file may make us build. pyyaml's composer recurses once per nesting level,
# and each alias is built again wherever it is used, so without bounds a few lines ("billion laughs":
# nine levels of ten aliases each) or a self-referencing anchor exhaust memory or the stack.
MAX_DEPTH = 64
MIN_ALIAS_BUDGET = 10_000  # values aliases may add to a file; more when the file itself writes more:
ALIAS_BUDGET_PER_WRITTEN = 10  # a spec of thousands of entries that `<<: *base` each stays readable
_MERGE_TAG = "tag:yaml.org,2002:merge"
_KIND_OF_TAG = {"tag:yaml.org,2002:int": "a number", "tag:yaml.org,2002:float": "a number",
                "tag:yaml.org,2002:timestamp": "a date", "tag:yaml.org,2002:binary": "binary data"}


class _Refused(Exception):
    """A file that is valid YAML but too big or too deep to build: one diagnostic, at `mark`."""

    def __init__(self, mark: yaml.Mark, message: str, hint: str):
        super().__init__(message)
        self.mark, self.message, self.hint = mark, message, hint


class _Bounded:
    """Composing under bounds: nesting deeper than MAX_DEPTH is refused, the nodes the file writes are
    counted, and where each alias was written is noted (the composer returns the anchor's node)."""

    def __init__(self):
        self.depth = 0
        self.written = 0
        self.alias_marks: dict[tuple[int, Any], yaml.Mark] = {}  # (id(parent node), index or id(key node))

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if parent is not None and index is not None:
                self.alias_marks[(id(parent), index if isinstance(index, int) else id(index))] = event.start_mark
            return super().compose_node(parent, index)
        self.written += 1
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(event.start_mark, f"values nested deeper than {MAX_DEPTH} levels",
                               "a spec needs a handful of levels; flatten this")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _BoundedLoader(_Bounded, yaml.SafeLoader):
    """pyyaml's pure-Python safe loader, bounded: it words every YAML error tlsgen reports."""

    def __init__(self, text: str):
        yaml.SafeLoader.__init__(self, text)
        _Bounded.__init__(self)


if yaml.__with_libyaml__:
    class _FastLoader(_Bounded, yaml.composer.Composer, yaml.cyaml.CParser, yaml.constructor.SafeConstructor,
                      yaml.resolver.Resolver):
        """libyaml scans and parses, the same bounded composer builds the nodes: four times faster than
        _BoundedLoader, and a 5,000-entity spec's node tree is 40 % smaller (C marks)."""

        def __init__(self, text: str):
            yaml.cyaml.CParser.__init__(self, text)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Bounded.__init__(self)


def _composed(text: str) -> tuple[_Bounded, yaml.Node | None]:
    """A loader and the node tree of the document; YAML errors (yaml.YAMLError), a control character
    (yaml.reader.ReaderError) or what the bounds refuse (_Refused) are raised as pyyaml words them:
    libyaml composes what it can, and the pure-Python parser reads a text libyaml finds wrong again."""
    if yaml.__with_libyaml__:
        loader = _FastLoader(text)
        try:
            return loader, loader.get_single_node()
        except yaml.YAMLError:
            loader.dispose()
    loader = _BoundedLoader(text)
    try:
        return loader, loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise


def compose_node(text: str) -> yaml.Node | None:
    """The node tree of one YAML document that is not a spec (a user's compose file), composed under
    the same depth bound; aliases stay shared nodes, never expanded. yaml.YAMLError when it is not YAML."""
    try:
        loader, node = _composed(text)
    except _Refused as exc:
        raise yaml.MarkedYAMLError(problem=exc.message, problem_mark=exc.mark) from None
    loader.dispose()
    return node


class _Builder:
    """Turns one file's node tree into values, recording places and collecting diagnostics.

    Values reached through an alias are built again at each use (their places are the anchor's);
    how many is bounded, and an alias inside its own anchor is refused."""

    def __init__(self, file: Path, loader: _BoundedLoader, locations: Locations, problems: list[Diagnostic]):
        self.file = display_path(file)
        self.loader = loader
        self.locations = locations
        self.problems = problems
        self.budget = max(MIN_ALIAS_BUDGET, ALIAS_BUDGET_PER_WRITTEN * loader.written)
        self.expanded = 0
        self.alias: yaml.Mark | None = None  # the outermost alias being built, if any
        self.building: set[int] = set()  # ids of the nodes being built, outermost to here
        self.checked: set[int] = set()  # ids of the mappings whose keys were checked

    def place(self, node: yaml.Node) -> Place:
        mark = node.start_mark
        return Place(self.file, mark.line + 1, mark.column + 1)

    def child(self, parent: yaml.Node, index: Any, node: yaml.Node, path: SpecPath) -> Any:
        """Build `node`, found at `index` of `parent`: written there, or reached through an alias."""
        mark = self.alias_mark(parent, index) if self.loader.alias_marks else None
        if mark is None:
            return self.build(node, path)
        if id(node) in self.building:
            raise _Refused(mark, "this alias is used inside its own anchor, which YAML would expand without end",
                           "refer to the anchor only outside of it")
        if self.alias is not None:
            return self.build(node, path)
        self.alias = mark
        try:
            return self.build(node, path)
        finally:
            self.alias = None

    def build(self, node: yaml.Node, path: SpecPath) -> Any:
        if self.alias is not None:
            self.expanded += 1
            if self.expanded > self.budget:
                raise _Refused(self.alias, f"aliases make this file more than {self.budget} values larger "
                               "(a YAML 'billion laughs'?)", "write the values out, or nest aliases less deeply")
        if len(path) > MAX_DEPTH:
            raise _Refused(node.start_mark, f"values nested deeper than {MAX_DEPTH} levels",
                           "a spec needs a handful of levels; flatten this")
        self.locations.values[path] = self.place(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self.building.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.child(node, i, item, path + (i,)) for i, item in enumerate(node.value)]
        finally:
            self.building.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: SpecPath) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except ValueError:  # a plain scalar YAML reads as a number or date it cannot hold, such as 2024-13-45
            what = _KIND_OF_TAG.get(node.tag, "something other than text")
            self.problems.append(Diagnostic(self.place(node), dotted(path), f"YAML reads this as {what}, and it is "
                                            "not a valid one", "quote it if you mean text"))
            return node.value
        if not node.style and not isinstance(value, str):  # plain: None from pyyaml, "" from libyaml
            self.locations.quoted[path] = node.value  # e.g. NO → False, 1.0 → float: hints suggest quoting
        return value

    def _mapping(self, node: yaml.MappingNode, path: SpecPath, skip: frozenset = frozenset()) -> dict:
        """The mapping's values, `<<` merges included; keys in `skip` (which a mapping merging this one
        sets itself) are not built, so that `<<: [*a, *a]` costs what `<<: *a` does, as in pyyaml."""
        own: dict[str, Any] = {}
        for key_node, value_node, key in self._entries(node, path):
            if key not in skip:
                at = path + (key,)  # one tuple for both tables: a spec of 5,000 entities has 35,000 of them
                self.locations.keys[at] = self.place(key_node)
                own[key] = self.child(node, key_node, value_node, at)
        # `<<: [*a, *b]`: keys of earlier mappings win over later ones, and the mapping's own keys win over all
        merged: dict[str, Any] = {}
        taken, sources = set(skip) | set(own), set()
        for parent, index, source in self._merge_sources(node, path):
            if id(source) not in sources:
                sources.add(id(source))
                merged.update(self._merge_source(parent, index, source, path, frozenset(taken)))
                taken |= set(merged)
        return {**merged, **own}

    def _entries(self, node: yaml.MappingNode, path: SpecPath) -> Iterator[tuple[yaml.Node, yaml.Node, str]]:
        """(key node, value node, key) of each entry but `<<`; a node's bad keys are reported once, however
        often aliases and merges build it."""
        report = id(node) not in self.checked
        self.checked.add(id(node))
        seen: dict[Any, Place] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode):  # never built: a list key could be an alias bomb
                if report:
                    self.problems.append(Diagnostic(self.place(key_node), dotted(path),
                                                    "a key must be text, not a list or mapping"))
                continue
            key = self._key(key_node)
            if key in seen and report:
                self.problems.append(Diagnostic(
                    self.place(key_node), dotted(path + (str(key),)),
                    f"duplicate key '{key}' (first written at line {seen[key].line})",
                    "YAML would silently keep only the last one; remove one of them"))
            seen.setdefault(key, self.place(key_node))
            if not isinstance(key, str):
                if report:
                    self.problems.append(Diagnostic(self.place(key_node), dotted(path),
                                                    f"key {key!r} must be text", "quote it"))
                key = str(key)
            yield key_node, value_node, key

    def _key(self, key_node: yaml.ScalarNode) -> Any:
        try:
            return self.loader.construct_object(key_node)
        except ValueError:  # such as 2024-13-45: reported as a key that is not text
            return key_node.value

    def _merge_sources(self, node: yaml.MappingNode, path: SpecPath) -> list[tuple[yaml.Node, Any, yaml.MappingNode]]:
        """The mappings `<<` merges into `node`, each with its index for `child`, earliest first."""
        sources = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            if isinstance(value_node, yaml.MappingNode):
                sources.append((node, key_node, value_node))
            elif isinstance(value_node, yaml.SequenceNode) and \
                    all(isinstance(item, yaml.MappingNode) for item in value_node.value):
                sources += [(value_node, i, item) for i, item in enumerate(value_node.value)]
            else:
                self.problems.append(Diagnostic(self.place(value_node), dotted(path),
                                                "'<<' merges a mapping or a list of mappings",
                                                "write <<: *anchor or <<: [*a, *b]"))
        return sources

    def alias_mark(self, parent: yaml.Node, index: Any) -> yaml.Mark | None:
        """Where the alias was written whose anchor's node sits at `index` of `parent`, if one was."""
        return self.loader.alias_marks.get((id(parent), index if isinstance(index, int) else id(index)))

    def _merge_source(self, parent: yaml.Node, index: Any, source: yaml.MappingNode, path: SpecPath,
                      skip: frozenset) -> dict:
        mark = self.alias_mark(parent, index)
        if mark is not None and id(source) in self.building:
            raise _Refused(mark, "this mapping merges itself, which YAML would expand without end",
                           "merge the anchor only outside of it")
        outermost = self.alias is None and mark is not None
        if outermost:
            self.alias = mark
        try:
            if self.alias is not None:
                self.expanded += 1  # the merged mapping itself; its values count as they are built
            self.building.add(id(source))
            try:
                return self._mapping(source, path, skip)
            finally:
                self.building.discard(id(source))
        finally:
            if outermost:
                self.alias = None


def _place_of_position(file: Path, text: str, position: int) -> Place:
    line = text.count("\n", 0, position) + 1
    return Place(display_path(file), line, position - (text.rfind("\n", 0, position) + 1) + 1)


def _parse_file(file: Path, locations: Locations, problems: list[Diagnostic], fatal: list[Diagnostic]) -> Any:
    """The file's values; unreadable YAML goes to `fatal`, problems that leave the values known to `problems`."""
    try:
        text = read_regular_file(file, SPEC_FILE_LIMIT).decode("utf-8")
    except (UnreadableFile, UnicodeDecodeError) as exc:
        fatal.append(Diagnostic(Place(display_path(file), 1, 1), "", f"cannot read this file: {exc}"))
        return None
    try:
        loader, node = _composed(text)
        try:
            return _Builder(file, loader, locations, problems).build(node, ()) if node is not None else None
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:  # a control character such as NUL; pyyaml gives no mark, only a position
        fatal.append(Diagnostic(_place_of_position(file, text, exc.position), "",
                                f"YAML cannot hold the control character U+{exc.character:04X}",
                                "remove it; inside double quotes, write it as an escape such as \\t"))
        return None
    except _Refused as exc:
        place = Place(display_path(file), exc.mark.line + 1, exc.mark.column + 1)
        fatal.append(Diagnostic(place, "", exc.message, exc.hint))
        return None
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
