"""tlsgen.spec.loader: values with their places, duplicate keys, `<<` merges, and spec directories merged by name."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tlsgen.diagnostics import Place, UserError
from tlsgen.spec.loader import dotted, load, spec_files


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def at(file: str, line: int, column: int) -> Place:
    return Place(file, line, column)


def messages(problems) -> list[str]:
    """As the CLI prints them: sorted by place."""
    return [p.render() for p in sorted(problems, key=lambda p: p.sort_key())]


def test_dotted_paths():
    assert dotted(("brokers", "kafka", "hostnames", 0)) == "brokers.kafka.hostnames[0]"
    assert dotted(("clients", "app", "brokers", 1, "a")) == "clients.app.brokers[1].a"
    assert dotted(()) == ""


# --- places -------------------------------------------------------------------------------------------


def test_places_of_keys_nested_values_and_list_items(project):
    write(project / "tls.yaml", """\
        version: 1
        cas:
          root:
            subject: {common_name: Root, country: GB}
        brokers:
          kafka:
            issuer: root
            hostnames:
              - kafka
              - localhost
            ip_addresses: [127.0.0.1, "::1"]
        """)
    raw = load(Path("tls.yaml"))
    loc = raw.locations
    f = "tls.yaml"
    assert raw.problems == []
    assert raw.data["brokers"]["kafka"]["hostnames"] == ["kafka", "localhost"]
    # values
    assert loc.of(("version",)) == at(f, 1, 10)
    assert loc.of(("cas", "root", "subject", "country")) == at(f, 4, 43)
    assert loc.of(("brokers", "kafka", "issuer")) == at(f, 7, 13)
    assert loc.of(("brokers", "kafka", "hostnames", 0)) == at(f, 9, 9)
    assert loc.of(("brokers", "kafka", "hostnames", 1)) == at(f, 10, 9)
    assert loc.of(("brokers", "kafka", "ip_addresses", 1)) == at(f, 11, 31)  # the opening quote
    # keys
    assert loc.of(("brokers", "kafka"), key=True) == at(f, 6, 3)
    assert loc.of(("brokers", "kafka", "hostnames"), key=True) == at(f, 8, 5)
    assert loc.of(("cas", "root", "subject", "common_name"), key=True) == at(f, 4, 15)
    # a list item has no key: its value is the place either way
    assert loc.of(("brokers", "kafka", "hostnames", 1), key=True) == at(f, 10, 9)


def test_a_missing_field_points_at_its_nearest_written_ancestor(project):
    write(project / "tls.yaml", "version: 1\nbrokers:\n  kafka:\n    port: 9093\n")
    loc = load(Path("tls.yaml")).locations
    assert loc.of(("brokers", "kafka", "issuer")) == at("tls.yaml", 4, 5)  # the mapping that lacks it
    assert loc.of(("brokers", "kafka", "issuer"), key=True) == at("tls.yaml", 3, 3)  # the entity's name
    assert loc.diagnostic(("brokers", "kafka", "issuer"), "missing", key=True).render() == \
        "tls.yaml:3:3: brokers.kafka.issuer: missing"


def test_plain_scalars_yaml_did_not_read_as_text_are_remembered_as_written(project):
    write(project / "tls.yaml", 'version: 1\ndefaults:\n  subject: {country: NO, state: "NO"}\n  owner: 1000\n')
    raw = load(Path("tls.yaml"))
    assert raw.data["defaults"]["subject"] == {"country": False, "state": "NO"}
    assert raw.locations.quoted[("defaults", "subject", "country")] == "NO"
    assert raw.locations.quoted[("defaults", "owner")] == "1000"
    assert ("defaults", "subject", "state") not in raw.locations.quoted


def test_files_are_named_relative_to_the_working_directory(project, monkeypatch):
    write(project / "deploy" / "specs" / "tls.yaml", "version: 1\n")
    monkeypatch.chdir(project / "deploy")
    assert load(Path("specs/tls.yaml")).locations.of(("version",)) == at("specs/tls.yaml", 1, 10)
    assert load(project / "deploy" / "specs" / "tls.yaml").locations.of(("version",)).file == "specs/tls.yaml"


# --- `<<` merge keys ------------------------------------------------------------------------------------


def test_merge_keys_copy_the_anchor_and_explicit_keys_win(project):
    write(project / "tls.yaml", """\
        version: 1
        cas:
          root: {}
        brokers:
          kafka-1: &broker
            issuer: root
            port: 9093
            hostnames: [kafka-1]
          kafka-2:
            <<: *broker
            port: 9094
            hostnames: [kafka-2]
        """)
    raw = load(Path("tls.yaml"))
    assert raw.problems == []  # overriding a merged key is not a duplicate
    assert raw.data["brokers"]["kafka-2"] == {"issuer": "root", "port": 9094, "hostnames": ["kafka-2"]}
    assert raw.data["brokers"]["kafka-1"]["port"] == 9093
    loc = raw.locations
    # a merged value is placed where it was written: in the anchor
    assert loc.of(("brokers", "kafka-2", "issuer")) == at("tls.yaml", 6, 13)
    assert loc.of(("brokers", "kafka-2", "port")) == at("tls.yaml", 11, 11)
    assert loc.of(("brokers", "kafka-2", "hostnames", 0)) == at("tls.yaml", 12, 17)
    assert "<<" not in raw.data["brokers"]["kafka-2"]


def test_merge_of_a_list_of_anchors(project):
    write(project / "tls.yaml", """\
        version: 1
        defaults: {}
        clients:
          base: &base {issuer: root}
          tls: &tls {keystore: jks, truststore: jks}
          app:
            <<: [*base, *tls]
            keystore: pkcs12
        """)
    raw = load(Path("tls.yaml"))
    assert raw.data["clients"]["app"] == {"issuer": "root", "keystore": "pkcs12", "truststore": "jks"}
    assert raw.problems == []


def test_earlier_merged_mappings_win_and_repeats_add_nothing(project):
    write(project / "tls.yaml", """\
        version: 1
        a: &a {x: from-a, y: from-a}
        b: &b {x: from-b, z: from-b}
        c:
          <<: [*a, *b, *a]
          y: own
        """)
    raw = load(Path("tls.yaml"))
    assert raw.problems == []
    assert raw.data["c"] == {"x": "from-a", "y": "own", "z": "from-b"}
    assert raw.locations.of(("c", "x")) == at("tls.yaml", 2, 11)  # where *a's value was written
    assert raw.locations.of(("c", "z")) == at("tls.yaml", 3, 22)
    assert raw.locations.of(("c", "y")) == at("tls.yaml", 6, 6)


def test_a_merge_of_something_else_than_mappings_is_an_error(project):
    write(project / "tls.yaml", "version: 1\ndefaults:\n  <<: [1, 2]\n  key: ec-p256\n")
    raw = load(Path("tls.yaml"))
    assert messages(raw.problems) == ["tls.yaml:3:7: defaults: '<<' merges a mapping or a list of mappings "
                                      "(write <<: *anchor or <<: [*a, *b])"]
    assert raw.data["defaults"] == {"key": "ec-p256"}


# --- duplicate keys -------------------------------------------------------------------------------------


def test_duplicate_keys_are_reported_at_the_second_with_the_first_line(project):
    write(project / "tls.yaml", """\
        version: 1
        cas:
          root: {}
          root: {validity: 100d}
        brokers:
          kafka:
            issuer: root
            hostnames: [kafka]
            issuer: other
        clients:
          app: {issuer: root, brokers: [kafka, {x: 1, x: 2}]}
        version: 1
        """)
    raw = load(Path("tls.yaml"))
    assert messages(raw.problems) == [
        "tls.yaml:4:3: cas.root: duplicate key 'root' (first written at line 3) "
        "(YAML would silently keep only the last one; remove one of them)",
        "tls.yaml:9:5: brokers.kafka.issuer: duplicate key 'issuer' (first written at line 7) "
        "(YAML would silently keep only the last one; remove one of them)",
        "tls.yaml:11:47: clients.app.brokers[1].x: duplicate key 'x' (first written at line 11) "
        "(YAML would silently keep only the last one; remove one of them)",
        "tls.yaml:12:1: version: duplicate key 'version' (first written at line 1) "
        "(YAML would silently keep only the last one; remove one of them)",
    ]


def test_a_key_that_is_not_text(project):
    write(project / "tls.yaml", "version: 1\nbrokers:\n  9093: {issuer: root}\n")
    raw = load(Path("tls.yaml"))
    assert messages(raw.problems) == ["tls.yaml:3:3: brokers: key 9093 must be text (quote it)"]
    assert "9093" in raw.data["brokers"]


# --- files that are not a spec ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("", "tls.yaml:1:1: empty spec file (start it with `version: 1`)"),
    ("# only a comment\n", "tls.yaml:1:1: empty spec file (start it with `version: 1`)"),
    ("- version: 1\n", "tls.yaml:1:1: a spec file must be a mapping of sections (start it with `version: 1`)"),
    ("version: 1\ncas: {root: {}\n", "tls.yaml:3:1: YAML syntax error: while parsing a flow mapping expected ',' or "
                                     "'}', but got '<stream end>'"),
    ("version: 1\n---\nversion: 1\n", "tls.yaml:2:1: YAML syntax error: expected a single document in the stream "
                                      "but found another document"),
], ids=["empty", "comment", "list", "unclosed", "two-documents"])
def test_unreadable_specs_raise_with_the_place(project, text, expected):
    write(project / "tls.yaml", text)
    with pytest.raises(UserError) as caught:
        load(Path("tls.yaml"))
    [message] = messages(caught.value.diagnostics)
    assert message.startswith(expected)


def test_a_file_that_is_not_utf8(project):
    (project / "tls.yaml").write_bytes(b"version: 1\nname: \xff\n")
    with pytest.raises(UserError) as caught:
        load(Path("tls.yaml"))
    [message] = messages(caught.value.diagnostics)
    assert message.startswith("tls.yaml:1:1: cannot read this file: 'utf-8' codec can't decode byte 0xff")


def test_no_spec_at_all(project):
    with pytest.raises(UserError, match=r"^specs: no such file or directory"):
        load(Path("specs"))
    (project / "specs").mkdir()
    (project / "specs" / "README.md").write_text("not a spec\n")
    with pytest.raises(UserError, match=r"^specs: no \*\.yaml or \*\.yml files in this directory"):
        load(Path("specs"))


# --- spec directories ------------------------------------------------------------------------------------


def test_a_directory_means_its_yaml_and_yml_files_in_name_order(project):
    for name in ("b.yml", "a.yaml", "c.txt", "d.yaml.orig"):
        write(project / "specs" / name, "version: 1\n")
    (project / "specs" / "sub.yaml").mkdir()
    assert spec_files(Path("specs")) == [Path("specs/a.yaml"), Path("specs/b.yml")]


def test_a_directory_merges_sections_by_name_and_keeps_each_place(project):
    write(project / "specs" / "10-pki.yaml", """\
        version: 1
        output: ../out
        defaults:
          key: ec-p256
        cas:
          root: {}
        """)
    write(project / "specs" / "20-kafka.yaml", """\
        version: 1
        defaults:
          validity: 90d
        cas:
          issuing: {issuer: root}
        brokers:
          kafka: {issuer: issuing}
        compose:
          file: tls.compose.yaml
        """)
    raw = load(Path("specs"))
    assert raw.problems == []
    assert raw.data == {
        "version": 1, "output": "../out", "defaults": {"key": "ec-p256", "validity": "90d"},
        "cas": {"root": {}, "issuing": {"issuer": "root"}}, "brokers": {"kafka": {"issuer": "issuing"}},
        "compose": {"file": "tls.compose.yaml"},
    }
    loc = raw.locations
    assert loc.of(("cas", "root"), key=True) == at("specs/10-pki.yaml", 6, 3)
    assert loc.of(("cas", "issuing", "issuer")) == at("specs/20-kafka.yaml", 5, 21)
    assert loc.of(("defaults", "validity")) == at("specs/20-kafka.yaml", 3, 13)
    assert loc.of(("output",)) == at("specs/10-pki.yaml", 2, 9)
    # relative paths in a value are relative to the file it was written in
    assert loc.file_of(("brokers", "kafka", "issuer")) == Path("specs/20-kafka.yaml")
    assert loc.file_of(("output",)) == Path("specs/10-pki.yaml")
    assert loc.files == [Path("specs/10-pki.yaml"), Path("specs/20-kafka.yaml")]


def test_a_name_or_field_defined_in_two_files_names_both_places(project):
    write(project / "specs" / "a.yaml", """\
        version: 1
        output: ../out
        defaults: {key: ec-p256}
        cas:
          root: {}
        brokers:
          kafka: {issuer: root}
        """)
    write(project / "specs" / "b.yaml", """\
        version: 1
        output: ../build
        defaults: {key: rsa-2048}
        brokers:
          kafka: {issuer: root, port: 9094}
          kafka-2: {issuer: root}
        """)
    raw = load(Path("specs"))
    assert messages(raw.problems) == [
        "specs/b.yaml:2:1: output: 'output' is defined twice: here and at specs/a.yaml:2:1 (keep one of them)",
        "specs/b.yaml:3:12: defaults.key: field 'key' is defined twice: here and at specs/a.yaml:3:12 "
        "(keep one of them)",
        "specs/b.yaml:5:3: brokers.kafka: name 'kafka' is defined twice: here and at specs/a.yaml:7:3 "
        "(keep one of them)",
    ]
    # the first definition stays; the rest of the second file still merges
    assert raw.data["output"] == "../out"
    assert raw.data["brokers"] == {"kafka": {"issuer": "root"}, "kafka-2": {"issuer": "root"}}
    assert raw.locations.of(("brokers", "kafka", "issuer")) == at("specs/a.yaml", 7, 19)


def test_every_file_of_a_directory_needs_the_same_version(project):
    write(project / "specs" / "a.yaml", "version: 1\ncas: {root: {}}\n")
    write(project / "specs" / "b.yaml", "brokers: {kafka: {issuer: root}}\n")
    write(project / "specs" / "c.yaml", "version: 2\n")
    raw = load(Path("specs"))
    assert messages(raw.problems) == [
        "specs/b.yaml:1:1: version: missing 'version: 1' (every file of a spec starts with `version: 1`)",
        "specs/c.yaml:1:10: version: version 2 differs from 1 at specs/a.yaml:1:10",
    ]


def test_syntax_errors_in_several_files_are_all_reported(project):
    write(project / "specs" / "a.yaml", "version: 1\ncas: [root\n")
    write(project / "specs" / "b.yaml", "")
    write(project / "specs" / "c.yaml", "version: 1\nbrokers:\n  kafka: {issuer: root}\n  kafka: {}\n")
    with pytest.raises(UserError) as caught:
        load(Path("specs"))
    assert [(d.place.file, d.place.line) for d in caught.value.diagnostics] == [
        ("specs/a.yaml", 3), ("specs/b.yaml", 1), ("specs/c.yaml", 4)]


# --- libyaml reads, pyyaml words the errors ----------------------------------------------------------------

PARITY_SPEC = """\
version: 1
x-common: &common {issuer: root, validity: 90d}   # anchors, merges, flow and block
defaults:
  subject: {organization: "Zürich Ω ✓", country: NO}
cas:
  root: {}
clients:
  "quoted key":
    <<: *common
    hostnames:
      - a.example
      - 'b.example'
  app: {<<: *common, brokers: [kafka, "kafka-2"]}
  multi: {issuer: root, service: "a long
    folded text"}
brokers:
  kafka: {issuer: root, hostnames: [kafka, 10.0.0.1], port: 9093}  # ünïcode after the value ✓
"""


def _loaded(monkeypatch, libyaml: bool, text: str):
    import yaml

    monkeypatch.setattr(yaml, "__with_libyaml__", libyaml)
    write(Path("tls.yaml"), text)
    try:
        raw = load(Path("tls.yaml"))
    except UserError as exc:
        return messages(exc.diagnostics)
    return raw.data, raw.locations.values, raw.locations.keys, raw.locations.quoted, messages(raw.problems)


def test_libyaml_reads_every_value_and_place_as_the_pure_python_parser(project, monkeypatch):
    """The spec is parsed by libyaml (four times faster at 5,000 entities) and composed by the same
    bounded composer: values, places of values and keys, and what YAML did not read as text are the
    same as pyyaml's own parser gives, non-ASCII text, tabs, anchors and merges included."""
    import os

    import yaml

    assert yaml.__with_libyaml__ or not os.environ.get("CI"), "PyYAML without libyaml: the fast path is untested"
    fast = _loaded(monkeypatch, True, PARITY_SPEC)
    assert fast == _loaded(monkeypatch, False, PARITY_SPEC)
    assert fast[1][("clients", "app", "brokers", 1)] == at("tls.yaml", 13, 39)
    # The control: one character more in a line moves the places after it, and the comparison sees it.
    moved = PARITY_SPEC.replace("Zürich Ω ✓", "Zürich Ω ✓✓")
    assert _loaded(monkeypatch, True, moved)[1] != fast[1]


def test_a_tab_after_a_colon_is_read_as_yaml_1_2_allows(project, monkeypatch):
    """Where libyaml reads what pyyaml's parser refused, the spec is read: a tab between a key and its
    value is separation space in YAML 1.2 (pyyaml said "found character '\\t' that cannot start any token")."""
    spaced = _loaded(monkeypatch, True, "version: 1\ncas:\n  root: {}\n")
    tabbed = _loaded(monkeypatch, True, "version: 1\ncas:\n  root:\t{}\n")
    assert tabbed[0] == spaced[0] and tabbed[4] == []
    # The control: the pure-Python parser alone refuses it, as tlsgen did before.
    assert "cannot start any token" in _loaded(monkeypatch, False, "version: 1\ncas:\n  root:\t{}\n")[0]


@pytest.mark.parametrize("text", [
    "version: 1\ncas: {root: {}\n",
    "version: 1\ncas:\n  root: {}\n bad: 1\n",
    "version: 1\ncas: [a, b\nclients: {}\n",
    "version: 1\ncas: *nowhere\n",
    "version: 1\n\tcas: {}\n",
    "version: 1\nname: \"a\x00b\"\n",
    "version: 1\n---\nversion: 1\n",
], ids=["unclosed-flow", "indentation", "unclosed-far", "undefined-alias", "tab-indent", "control", "two-documents"])
def test_yaml_errors_are_worded_by_pyyaml_whichever_parser_read_first(project, monkeypatch, text):
    """libyaml words its errors otherwise (and places some elsewhere): a text it refuses is read again
    by pyyaml's parser, so that users get the messages and places they always got."""
    import yaml

    assert _loaded(monkeypatch, True, text) == _loaded(monkeypatch, False, text)
    # The control: libyaml alone would have said something else for most of these.
    if "\x00" not in text and "---" not in text and "*nowhere" not in text:
        with pytest.raises(yaml.YAMLError) as c_error:
            yaml.load(text, Loader=yaml.CSafeLoader)
        with pytest.raises(yaml.YAMLError) as py_error:
            yaml.load(text, Loader=yaml.SafeLoader)
        assert str(c_error.value) != str(py_error.value)
