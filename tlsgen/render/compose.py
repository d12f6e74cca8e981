"""The compose override (`compose.file` inside out/): per service, a read-only bind mount of each
entity directory it takes, and the entities' env files.

Compose resolves every relative path from the directory of the first `-f` file (the project
directory), not from the override's own directory, so paths here are relative to
`compose.project_dir`.

No `version:` key. docker-compose v1 1.27+ reads a version-less file as the Compose Specification
and merges it with a user file of any 2.x/3.x version; Compose v2 ignores `version:` and warns
about it. One exception: v1 takes a version-less file whose `services` is empty for the legacy v1
format and refuses to merge it ("Version mismatch"), so an override with no service carries
`version: "3.8"`, which v1 1.29 merges with any user file (tests/interop/test_compose.py).
"""

from __future__ import annotations

import os

from ..model import Spec
from .inputs import WRITTEN_BY
from .syntax import compose_string, yaml_key


def _from_project(path: str, project: str) -> str:
    rel = os.path.relpath(path, project)
    return rel if rel.startswith(".") else f"./{rel}"


def _volume(source: str, target: str) -> list[str]:
    """A read-only bind mount: the short `source:target:ro` form, or the long form when a path holds
    a `:` that the short form would split at."""
    if ":" not in source + target:
        return [f"      - {compose_string(f'{source}:{target}:ro')}"]
    return ["      - type: bind", f"        source: {compose_string(source)}",
            f"        target: {compose_string(target)}", "        read_only: true"]


def render_compose_override(spec: Spec, env_file_of) -> str | None:
    """The override's text; `env_file_of(entity)` is the name of its env file, or None."""
    if spec.compose.file is None:
        return None
    project = os.path.abspath(spec.compose.project_dir)
    output = os.path.abspath(spec.output)
    services: dict[str, tuple[list[tuple[str, str]], list[str]]] = {}
    for e in spec.entities.values():
        if e.service is None:
            continue
        directory = _from_project(os.path.join(output, e.kind, e.name), project)
        mount = e.mount.rstrip("/") or "/"
        volumes, env_files = services.setdefault(e.service, ([], []))
        volumes.append((mount, directory))
        env_name = env_file_of(e)
        if env_name is not None:
            env_files.append(f"{directory}/{env_name}")

    itself = os.path.relpath(os.path.join(output, spec.compose.file), project)
    yours = " ".join(f"-f {os.path.relpath(f, project)}" for f in spec.compose.services_from) or "-f compose.yaml"
    lines = [
        f"# {WRITTEN_BY}",
        "# Compose override: mounts each entity's directory read-only into its service and loads its",
        "# env file. From the project directory, on top of your own compose file:",
        f"#   docker compose {yours} -f {itself} up",
        "# (docker-compose v1 alike). Paths are relative to the project directory, as Compose resolves them.",
    ]
    if not services:
        lines += ["# No entity names a compose service. `version` keeps docker-compose v1 from reading this",
                  "# empty file as its legacy format; Compose v2 ignores it.",
                  'version: "3.8"', "services: {}"]
        return "\n".join(lines) + "\n"
    lines.append("services:")
    for service in sorted(services):
        volumes, env_files = services[service]
        lines.append(f"  {yaml_key(service)}:")
        lines.append("    volumes:")
        # Ordered by mount point, where Compose merges volumes, so reordering the spec changes nothing.
        for mount, directory in sorted(volumes):
            lines += _volume(directory, mount)
        if env_files:
            lines.append("    env_file:")
            lines += [f"      - {compose_string(path)}" for path in sorted(env_files)]
    return "\n".join(lines) + "\n"
