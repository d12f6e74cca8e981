"""tlsgen.model.ownership: who owns an entity's files, and the warnings when the service's user cannot read them.

Tables of (spec, the uid tlsgen runs as) → the owners it resolves and the exact warnings; `read_spec`
takes the uid as a parameter, so these run the same as root or not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tlsgen.model.ownership import IMAGE_USERS, ownership_warnings
from tlsgen.model.read import read_spec

SPEC = """\
version: 1
defaults: {image: confluent}
cas:
  root: {}
brokers:
  kafka: {issuer: root}
clients:
  app: {issuer: root, image: none}
  mine: {issuer: root, owner: '2000:2000'}
servers:
  mongodb: {issuer: root, image: mongo}
  plain: {issuer: root}
"""


@pytest.fixture
def spec_file(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tls.yaml").write_text(SPEC)
    return Path("tls.yaml")


def owners(spec_file: Path, euid: int) -> dict[str, tuple | None]:
    return {name: e.owner for name, e in read_spec(spec_file, euid=euid).entities.items()}


def test_as_root_each_entity_defaults_to_its_images_user_and_an_owner_of_its_own_wins(spec_file):
    assert owners(spec_file, 0) == {"kafka": (1000, 1000), "app": None, "mine": (2000, 2000), "mongodb": (999, 999),
                                    "plain": None}


def test_not_as_root_nothing_is_defaulted(spec_file):
    """The control: the same spec, resolved for another uid, asks for no chown it could not do."""
    assert owners(spec_file, 1000) == {"kafka": None, "app": None, "mine": (2000, 2000), "mongodb": None, "plain": None}


def test_defaults_owner_wins_over_the_image_too(spec_file):
    spec_file.write_text(SPEC.replace("defaults: {image: confluent}", "defaults: {image: confluent, owner: 3000}"))
    assert owners(spec_file, 0)["kafka"] == (3000, None) and owners(spec_file, 0)["mongodb"] == (3000, None)


def test_servers_do_not_inherit_a_kafka_image_and_take_only_server_images(spec_file):
    spec = read_spec(spec_file, euid=0)
    assert (spec.entities["plain"].image, spec.entities["mongodb"].image) == ("none", "mongo")


@pytest.mark.parametrize("euid, warned", [
    (0, []),  # root chowns
    (1000, ["servers.mongodb.image"]),  # the Kafka images' own uid reads the files it writes
    (999, ["defaults.image"]),  # mongo's uid: only kafka (its image from defaults) is warned about
    (4242, ["defaults.image", "servers.mongodb.image"]),
], ids=["root", "kafka-uid", "mongo-uid", "other"])
def test_warnings_name_each_entity_whose_service_cannot_read_at_its_image_setting(spec_file, euid, warned):
    spec = read_spec(spec_file, euid=euid)
    assert [w.path for w in ownership_warnings(spec, euid)] == warned


def test_a_warning_names_the_place_the_service_the_users_and_the_fixes(spec_file):
    spec = read_spec(spec_file, euid=4242)
    assert [w.render() for w in ownership_warnings(spec, 4242)] == [
        "tls.yaml:2:19: defaults.image: service 'kafka' runs the confluentinc/cp-* image as uid 1000, but this run "
        "(uid 4242) cannot chown: kafka's files will be owned by uid 4242 with mode 0600, and uid 1000 will not be "
        "able to read them (run apply as root: it chowns them to 1000:1000, or to the owner: you set; or run tlsgen "
        "as uid 1000; or, when the service runs as uid 4242 (compose `user: \"4242\"`), set owner: 4242)",
        "tls.yaml:11:34: servers.mongodb.image: service 'mongodb' runs the mongo image as uid 999, but this run "
        "(uid 4242) cannot chown: mongodb's files will be owned by uid 4242 with mode 0600, and uid 999 will not be "
        "able to read them (run apply as root: it chowns them to 999:999, or to the owner: you set; or run tlsgen "
        "as uid 999; or, when the service runs as uid 4242 (compose `user: \"4242\"`), set owner: 4242)",
    ]


def test_an_entity_without_a_service_is_named_by_its_container(spec_file):
    spec_file.write_text(SPEC.replace("image: mongo}", "image: mongo, service: null}"))
    [_, mongodb] = ownership_warnings(read_spec(spec_file, euid=4242), 4242)
    assert mongodb.message.startswith("mongodb's container runs the mongo image as uid 999")


def test_the_image_users_are_the_ones_the_images_run_as():
    """From the images' Dockerfiles (see IMAGE_USERS): a typo here would chown every file to the wrong user."""
    assert {name: user.owner for name, user in IMAGE_USERS.items()} == {
        "confluent": (1000, 1000), "apache": (1000, 1000), "mongo": (999, 999)}


def test_a_server_image_on_a_broker_and_a_kafka_image_on_a_server_are_errors(spec_file):
    from tlsgen.diagnostics import UserError

    spec_file.write_text(SPEC.replace("kafka: {issuer: root}", "kafka: {issuer: root, image: mongo}")
                         .replace("plain: {issuer: root}", "plain: {issuer: root, image: confluent}"))
    with pytest.raises(UserError) as caught:
        read_spec(spec_file, euid=0)
    assert [d.render() for d in caught.value.diagnostics] == [
        "tls.yaml:6:32: brokers.kafka.image: unknown image 'mongo'; allowed: apache, confluent, none",
        "tls.yaml:12:32: servers.plain.image: unknown server image 'confluent'; allowed: mongo, none",
    ]
