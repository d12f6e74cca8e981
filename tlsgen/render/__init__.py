"""Config files for the consumers of tlsgen's keys and stores: pure functions from the resolved spec
to text. No I/O, no clock, no randomness: the same spec and passwords give the same bytes.

One module per consumer, behind one interface, `render(spec, entity, passwords) -> str`:
  kafka        server.properties, client.properties (Kafka's Java configs)
  connect      worker.properties, KAFKA_OPTS (Kafka Connect and the JVM default SSLContext)
  librdkafka   librdkafka.properties (PEM paths)
  env          <name>.env for brokers, clients and workers, per the `image:` conventions
  mongodb      <name>.env for servers
  compose      the compose override
ENTITY_FILES below lists which of them writes which file in each kind's directory.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from ..model import Entity, Spec
from . import connect, env, kafka, librdkafka, mongodb
from .compose import render_compose_override
from .layout import Passwords, env_file

__all__ = ["ENTITY_FILES", "SECRET_FILES", "Passwords", "is_secret", "render_compose", "render_entity_files"]

Renderer = Callable[[Spec, Entity, Passwords], str]


class RenderedFile(NamedTuple):
    name: Callable[[Entity], str]  # the file's name inside the entity's directory
    render: Renderer


def _named(name: str) -> Callable[[Entity], str]:
    return lambda e: name


ENTITY_FILES: dict[str, tuple[RenderedFile, ...]] = {
    "brokers": (RenderedFile(_named("server.properties"), kafka.render_server_properties),
                RenderedFile(env_file, env.render_broker_env)),
    "clients": (RenderedFile(_named("client.properties"), kafka.render_client_properties),
                RenderedFile(_named("librdkafka.properties"), librdkafka.render_librdkafka_properties),
                RenderedFile(env_file, env.render_client_env)),
    "workers": (RenderedFile(_named("worker.properties"), connect.render_worker_properties),
                RenderedFile(env_file, env.render_worker_env)),
    "servers": (RenderedFile(env_file, mongodb.render_server_env),),
}

# Suffixes of the rendered files to write 0600: `name.endswith(SECRET_FILES)`. Every properties and
# env file, whether or not this entity's variant holds a password (a librdkafka file names an
# unencrypted key; a broker env file for the images names password files): a file's mode should
# not flip when a store format changes, and `tlsgen verify` expects these suffixes to be 0600.
SECRET_FILES = (".properties", ".env")


def is_secret(name: str) -> bool:
    return name.endswith(SECRET_FILES)


def render_entity_files(spec: Spec, entity: Entity, passwords: Passwords) -> dict[str, str]:
    """File name inside the entity's directory → text, for the config files of that entity."""
    return {f.name(entity): f.render(spec, entity, passwords) for f in ENTITY_FILES[entity.kind]}


def _env_file_of(entity: Entity) -> str | None:
    names = (f.name(entity) for f in ENTITY_FILES[entity.kind])
    return next((name for name in names if name.endswith(".env")), None)


def render_compose(spec: Spec) -> str | None:
    """The compose override's text, or None when the spec has no compose file."""
    return render_compose_override(spec, _env_file_of)
