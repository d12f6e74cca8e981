"""The user's compose file (`compose.services_from`): which services it defines.

Only the names are read: the keys of the top-level `services:` mapping, as Compose takes them (the
Compose Specification, "Services top-level elements"). The file is the user's, so it gets the spec's
care: read as a regular file of bounded size (`files.read_regular_file`), composed under the spec's
depth bound, and its aliases are never expanded (a key is all that is looked at).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from .loader import compose_node

_MERGE_TAG = "tag:yaml.org,2002:merge"


class NotAComposeFile(Exception):
    """Why a file gives no service names, in the user's words (the path is the caller's to add)."""


@dataclass(frozen=True)
class ComposeServices:
    names: tuple[str, ...]  # in the file's order
    includes: bool  # a top-level `include:` (Compose 2.20) brings services from other files too


def compose_services(text: str) -> ComposeServices:
    """The services a compose file defines; NotAComposeFile when it is not YAML or has no `services:`."""
    try:
        root = compose_node(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise NotAComposeFile(f"it cannot be read as YAML: {problem}{where}") from None
    top = _keys(root) if isinstance(root, yaml.MappingNode) else None
    if top is None or "services" not in top:
        raise NotAComposeFile("it has no top-level `services:` mapping, so it is not a compose file")
    services = top["services"]
    if isinstance(services, yaml.ScalarNode) and services.tag == "tag:yaml.org,2002:null":
        return ComposeServices((), "include" in top)
    if not isinstance(services, yaml.MappingNode):
        raise NotAComposeFile("its `services:` is not a mapping of service names")
    return ComposeServices(tuple(_keys(services)), "include" in top)


def _keys(mapping: yaml.MappingNode, depth: int = 0) -> dict[str, yaml.Node]:
    """Key → value node of a mapping, `<<: *anchor` merges included (the mapping's own keys win)."""
    own: dict[str, yaml.Node] = {}
    merged: dict[str, yaml.Node] = {}
    for key, value in mapping.value:
        if key.tag == _MERGE_TAG and depth < 8:  # merges of merges: a few levels are all a real file has
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                if isinstance(source, yaml.MappingNode):
                    merged = {**_keys(source, depth + 1), **merged}
        elif isinstance(key, yaml.ScalarNode):
            own.setdefault(key.value, value)
    return {**merged, **own}
