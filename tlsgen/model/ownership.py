"""Who must be able to read an entity's files: the user its image runs as.

tlsgen writes secrets 0600 in 0700 directories, so on a bind mount only their owner reads them, and
a container runs as its image's user, not as whoever ran tlsgen. Where tlsgen runs as root it makes
that user the default `owner`; where it cannot chown, `ownership_warnings` says which services will
not be able to read their files, and how to fix it. An `owner:` written in the spec (on the entity
or in `defaults`) always wins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..diagnostics import Diagnostic
from .topology import Entity, Spec


@dataclass(frozen=True)
class ImageUser:
    image: str  # what the image is called where it is pulled from
    uid: int
    gid: int

    @property
    def owner(self) -> tuple[int, int]:
        return self.uid, self.gid


# The user each `image:` runs as, from the images' Dockerfiles:
# - confluent: confluentinc/common-docker base-java-micro/Dockerfile.ubi9 (`ARG APP_UID=1000`,
#   `ARG APP_GID=1000`, `groupadd -g ${APP_GID} appuser`, `useradd -u ${APP_UID} -g ${APP_GID} ... appuser`),
#   the base of cp-kafka and cp-kafka-connect (confluentinc/kafka-images kafka/Dockerfile.ubi9:
#   `USER ${APP_UID}`).
# - apache: apache/kafka docker/jvm/Dockerfile, `adduser -h /home/appuser -D --shell /bin/bash appuser`
#   then `USER appuser` on Alpine: BusyBox adduser (loginutils/adduser.c) gives a normal user the first
#   free uid from 1000 and a group of its name with gid = uid, and the Alpine base has no user at 1000.
# - mongo: docker-library/mongo 8.0/Dockerfile (7.0 and 8.2 alike), `groupadd --gid 999 --system mongodb;
#   useradd --uid 999 --system --gid mongodb ... mongodb`; its docker-entrypoint.sh starts as root and
#   `exec gosu mongodb` before mongod runs, so mongod reads its TLS files as 999:999.
IMAGE_USERS = {
    "confluent": ImageUser("confluentinc/cp-*", 1000, 1000),
    "apache": ImageUser("apache/kafka", 1000, 1000),
    "mongo": ImageUser("mongo", 999, 999),
}


def image_user(e: Entity) -> ImageUser | None:
    return IMAGE_USERS.get(e.image)


def with_image_owners(entities: dict[str, Entity], euid: int) -> dict[str, Entity]:
    """As root, every entity without an owner of its own gets its image's user; otherwise nothing changes."""
    if euid != 0:
        return entities
    return {name: replace(e, owner=user.owner) if e.owner is None and (user := image_user(e)) else e
            for name, e in entities.items()}


def ownership_warnings(spec: Spec, euid: int) -> list[Diagnostic]:
    """One warning per entity whose service's user will not be able to read its files: its image runs as
    another uid than the one its files will have, because this run cannot chown (not root) and the spec
    sets no owner. At the entity's `image` setting, which names that user."""
    warnings = []
    for e in spec.entities.values():
        user = image_user(e)
        if user is None or e.owner is not None or euid in (0, user.uid):
            continue
        origin = spec.origin(e.name, "image")
        path = origin.path if origin is not None else f"{e.kind}.{e.name}.image"
        service = f"service '{e.service}'" if e.service else f"{e.name}'s container"
        warnings.append(Diagnostic(
            origin.place if origin is not None else None, path,
            f"{service} runs the {user.image} image as uid {user.uid}, but this run (uid {euid}) cannot chown: "
            f"{e.name}'s files will be owned by uid {euid} with mode 0600, and uid {user.uid} will not be able "
            "to read them",
            f"run apply as root: it chowns them to {user.uid}:{user.gid}, or to the owner: you set; or run tlsgen "
            f"as uid {user.uid}; or, when the service runs as uid {euid} (compose `user: \"{euid}\"`), set owner: {euid}"))
    return warnings
