"""The rules about the user's compose file (`compose.services_from`), run in `rules`' chain.

An override that names a service the user's file lacks makes Compose refuse the pair ("Service ...
has neither an image nor a build context"), so each entity's `service` must be one the file
defines; entities that no service mounts say `service: null`.
"""

from __future__ import annotations

from typing import Iterator

from ..diagnostics import Diagnostic, did_you_mean, display_path
from .resolve import Draft


def services_exist(draft: Draft) -> Iterator[Diagnostic]:
    compose = draft.compose
    if compose.services is None:  # no services_from, or it could not be read (reported there)
        return
    files = ", ".join(display_path(f) for f in compose.services_from)
    listed = ", ".join(compose.services) if compose.services else "none"
    for e in draft.entities.values():
        if e.service is None or e.service in compose.services:
            continue
        written = draft.written(e, "service")
        at = (e.kind, e.name, "service") if written else (e.kind, e.name)
        why = "" if written else " (an entity's service defaults to its name)"
        set_it = f"set service: to one of them, or service: null when no service mounts {e.name}"
        guess = did_you_mean(e.service, compose.services)
        fixes = [f"{guess} otherwise {set_it}" if guess else set_it]
        if compose.includes:
            fixes.append(f"{', '.join(display_path(f) for f in compose.includes)} includes other files, whose "
                         "services tlsgen does not read: list them in compose.services_from too")
        yield draft.diagnostic(at, f"{files} defines no service '{e.service}'{why}; its services: {listed}",
                               "; ".join(fixes), key=not written)


RULES = (services_exist,)
