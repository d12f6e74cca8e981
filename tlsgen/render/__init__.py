"""Config files for the consumers of tlsgen's keys and stores: pure functions from the resolved spec
to text. No I/O, no clock, no randomness: the same spec and passwords give the same bytes.

One module per consumer, behind one interface, `render(spec, entity, passwords) -> str`:
  kafka        server.properties, client.properties (Kafka's Java configs)
  connect      worker.properties, KAFKA_OPTS (Kafka Connect and the JVM default SSLContext)
  librdkafka   librdkafka.properties (PEM paths)
  env          <name>.env for brokers, clients and workers, per the `image:` conventions
  mongodb      <name>.env for servers
  compose      the compose override
Which config files each kind gets is tlsgen.layout's CONFIGS; RENDERERS below says who writes each.
"""

from __future__ import annotations

from typing import Callable

from .. import layout
from ..model import Entity, Spec
from . import connect, env, kafka, librdkafka, mongodb
from .compose import render_compose_override
from .inputs import Passwords

__all__ = ["RENDERERS", "Passwords", "render_compose", "render_config", "render_entity_files"]

Renderer = Callable[[Spec, Entity, Passwords], str]

RENDERERS: dict[tuple[str, str], Renderer] = {
    ("brokers", "server.properties"): kafka.render_server_properties,
    ("brokers", layout.ENV): env.render_broker_env,
    ("clients", "client.properties"): kafka.render_client_properties,
    ("clients", "librdkafka.properties"): librdkafka.render_librdkafka_properties,
    ("clients", layout.ENV): env.render_client_env,
    ("workers", "worker.properties"): connect.render_worker_properties,
    ("workers", layout.ENV): env.render_worker_env,
    ("servers", layout.ENV): mongodb.render_server_env,
}


def render_config(spec: Spec, entity: Entity, config: str, passwords: Passwords) -> str:
    return RENDERERS[(entity.kind, config)](spec, entity, passwords)


def render_entity_files(spec: Spec, entity: Entity, passwords: Passwords) -> dict[str, str]:
    """File name inside the entity's directory → text, for the config files of that entity."""
    return {layout.config_file(entity, config): render_config(spec, entity, config, passwords)
            for config in layout.CONFIGS[entity.kind]}


def render_compose(spec: Spec) -> str | None:
    """The compose override's text, or None when the spec has no compose file."""
    return render_compose_override(spec, lambda e: layout.env_file(e) if layout.ENV in layout.CONFIGS[e.kind] else None)
