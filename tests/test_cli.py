"""The command line: schema, init, help, exit codes, internal errors, --version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import REPO, tlsgen
from tlsgen import __version__
from tlsgen.cli import COMMANDS, main

COMMITTED_SCHEMA = REPO / "specs" / "tlsgen.schema.json"


@pytest.fixture(scope="module")
def schema_text() -> str:
    result = tlsgen("schema", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.fixture(scope="module")
def schema(schema_text) -> dict:
    document = json.loads(schema_text)
    jsonschema.Draft202012Validator.check_schema(document)
    return document


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def schema_errors(validator, document) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


# --- schema ------------------------------------------------------------------------------------------


def test_schema_is_draft_2020_12(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "tlsgen spec"
    assert schema["required"] == ["version"]


@pytest.mark.parametrize("spec_file", sorted(p.name for p in (REPO / "specs").glob("*.yaml")))
def test_schema_accepts_the_example_specs(validator, spec_file):
    assert schema_errors(validator, yaml.safe_load((REPO / "specs" / spec_file).read_text())) == []


def test_schema_accepts_what_init_writes(validator, tmp_path):
    assert main(["init", str(tmp_path / "tls.yaml")]) == 0
    assert schema_errors(validator, yaml.safe_load((tmp_path / "tls.yaml").read_text())) == []


@pytest.mark.parametrize("document", [
    {"version": 1, "defualts": {}},
    {"version": 1, "brokers": {"kafka": {"issuer": "root", "prot": 9093}}},
    {"version": 1, "cas": {"root": {"subject": {"orgnization": "x"}}}},
    {"version": 1, "defaults": {"key": "rsa-1024"}},
    {"version": 1, "defaults": {"validity": "365"}},
    {"version": 2},
    {"cas": {}},
], ids=["top-level", "entity", "subject", "weak-key", "duration", "version-2", "no-version"])
def test_schema_rejects_what_validate_rejects(validator, document):
    assert schema_errors(validator, document)


def test_schema_rejects_a_bad_name(validator):
    assert schema_errors(validator, {"version": 1, "brokers": {"Kafka": {"issuer": "root"}}})


def test_schema_accepts_an_empty_section(validator):
    assert schema_errors(validator, {"version": 1, "defaults": None, "servers": None}) == []


def test_every_property_in_the_schema_has_a_description(schema):
    missing, seen = [], 0

    def walk(node, where: str) -> None:
        nonlocal seen
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                seen += 1
                if not (isinstance(prop, dict) and prop.get("description")):
                    missing.append(f"{where}/properties/{name}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(schema, "#")
    assert seen > 50 and set(schema["$defs"]) >= {"BrokerSpec", "ClientSpec", "WorkerSpec", "ServerSpec", "CASpec",
                                                  "Defaults", "Subject", "ImportSpec", "ComposeSpec"}
    assert missing == []


def test_committed_schema_is_fresh(schema_text):
    """specs/tlsgen.schema.json is what `tlsgen schema` prints; refresh it with `tlsgen schema > ...`."""
    assert COMMITTED_SCHEMA.read_text() == schema_text


# --- init ----------------------------------------------------------------------------------------------


def test_init_writes_specs_tlsgen_yaml_which_validates_and_never_overwrites(tmp_path):
    first = tlsgen("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    spec = tmp_path / "specs" / "tlsgen.yaml"
    assert "specs/tlsgen.yaml" in first.stdout
    text = spec.read_bytes()
    assert text.startswith(b"# yaml-language-server: $schema=tlsgen.schema.json")
    assert (tmp_path / "specs" / "tlsgen.schema.json").read_text() == COMMITTED_SCHEMA.read_text()

    valid = tlsgen("validate", cwd=tmp_path)  # SPEC defaults to specs/
    assert valid.returncode == 0, valid.stderr
    assert "valid" in valid.stdout

    mtime = spec.stat().st_mtime_ns
    second = tlsgen("init", cwd=tmp_path)
    assert second.returncode == 1
    assert "already exists" in second.stderr and "Traceback" not in second.stderr
    assert spec.read_bytes() == text and spec.stat().st_mtime_ns == mtime


def test_init_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "platform/tls.yaml"]) == 0
    assert "wrote platform/tls.yaml" in capsys.readouterr().out
    assert (tmp_path / "platform" / "tls.yaml").is_file()
    assert main(["validate", "platform/tls.yaml"]) == 0
    assert main(["init", "platform"]) == 0  # a directory: tlsgen.yaml in it
    assert (tmp_path / "platform" / "tlsgen.yaml").is_file()
    capsys.readouterr()
    assert main(["init", "platform/tls.yaml"]) == 1
    assert "platform/tls.yaml already exists" in capsys.readouterr().err


def test_init_keeps_an_existing_schema_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tlsgen.schema.json").write_text("{}\n")
    assert main(["init"]) == 0
    assert (tmp_path / "specs" / "tlsgen.schema.json").read_text() == "{}\n"


# --- help, version, exit codes ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_shows_an_example(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: tlsgen {command}" in out
    assert "example" in out and f"tlsgen {command}" in out.split("example", 1)[1]


def test_top_level_help_shows_an_example_and_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "example" in out
    assert all(command in out for command in COMMANDS)


def test_version():
    result = subprocess.run([sys.executable, "-m", "tlsgen", "--version"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"tlsgen {__version__}"


@pytest.mark.parametrize("command, collects", [("validate", False), ("watch", True)])
def test_the_tlsgen_program_collects_garbage_in_watch_mode_only(tmp_path, command, collects):
    """A command that runs once needs no cyclic garbage collection (cli.entry); watch runs for days.
    Every command switches threads within 1 ms (the control: Python's own 5 ms, before entry)."""
    (tmp_path / "tls.yaml").write_text("version: 1\ncas: {root: {}}\nbrokers: {kafka: {issuer: root}}\n")
    code = (f"import gc, sys\nimport tlsgen.commands.{command} as command\n"
            "print('switch', sys.getswitchinterval())\n"
            "command.run = lambda args: print('collects', gc.isenabled(), 'switch', sys.getswitchinterval()) or 0\n"
            "from tlsgen.cli import entry\nsys.argv[0] = 'tlsgen'\nentry()")
    result = subprocess.run([sys.executable, "-c", code, command, "tls.yaml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"switch 0.005\ncollects {collects} switch 0.001\n"


def test_validate_valid_json_is_one_document_on_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tls.yaml").write_text("version: 1\ncas: {root: {}}\nbrokers: {kafka: {issuer: root}}\n")
    assert main(["validate", "tls.yaml", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"valid": True, "errors": [], "warnings": []}
    assert err == "tls.yaml: valid (1 CAs, 1 entities, 0 trusted)\n"


def test_validate_a_missing_spec(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    assert capsys.readouterr().err == ("specs: no such file or directory (name a spec file or directory, "
                                       "or create one with `tlsgen init`)\n")
    (tmp_path / "specs").mkdir()
    assert main(["validate", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["errors"][0]["message"].startswith("specs: no *.yaml or *.yml files in this directory")


# An internal error: make validate's read_spec raise, as a bug in tlsgen would.
BUGGY = """\
import sys
import tlsgen.model.read
def broken(*args, **kwargs):
    raise RuntimeError("resolver fell over")
tlsgen.model.read.read_spec = broken
from tlsgen.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_buggy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BUGGY, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_an_internal_error_is_one_line_and_exit_3(tmp_path):
    result = run_buggy("validate", "specs", cwd=tmp_path)
    assert result.returncode == 3
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "tlsgen: internal error (RuntimeError: resolver fell over); please report it with the output of "
        "`tlsgen --debug validate ...`"]


@pytest.mark.parametrize("args", [["--debug", "validate", "specs"], ["validate", "specs", "--debug"]],
                         ids=["before", "after"])
def test_debug_shows_the_traceback(tmp_path, args):
    result = run_buggy(*args, cwd=tmp_path)
    assert result.returncode == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert 'RuntimeError: resolver fell over' in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("tlsgen: internal error (RuntimeError")


def test_ctrl_c_exits_130_without_a_traceback(monkeypatch, capsys):
    import tlsgen.model.read

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tlsgen.model.read, "read_spec", interrupted)
    assert main(["validate", "specs"]) == 130
    assert capsys.readouterr().err == "tlsgen: interrupted\n"


# What `tlsgen --version` and argument parsing import: the command modules, without what only a
# command's run needs (cryptography, pydantic, yaml and watchfiles take most of tlsgen's start-up).
IMPORTS_AT_START = """\
import json, sys, tlsgen.cli
tlsgen.cli.build_parser()
{more}
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {{'cryptography', 'pydantic', 'yaml', 'watchfiles'}})))
"""


def heavy_imports(more: str = "") -> list[str]:
    result = subprocess.run([sys.executable, "-c", IMPORTS_AT_START.format(more=more)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_parsing_the_command_line_imports_no_heavy_dependency():
    assert heavy_imports() == []
    # the control: the probe sees them once the validate path is imported
    assert heavy_imports("import tlsgen.model.read") == ["cryptography", "pydantic", "yaml"]


APPLY_THEN_MODULES = """
import json, sys
from tlsgen.cli import main
code = main(["apply", sys.argv[1]])
print(json.dumps([code, sorted({m for m in sys.modules if m in ("concurrent.futures", "logging")})]))
"""


@pytest.mark.parametrize("key, expected", [("ec-p256", []), ("rsa-2048", ["concurrent.futures", "logging"])])
def test_an_apply_without_rsa_keys_imports_no_key_thread_machinery(tmp_path, key, expected):
    # concurrent.futures brings logging: ~5 ms of a 0.5 s cold apply, for RSA keys made in threads only.
    # The rsa-2048 case is the control: the probe sees both once keys are made in threads.
    (tmp_path / "tls.yaml").write_text(f"version: 1\ndefaults: {{key: {key}}}\ncas: {{root: {{}}}}\n"
                                       "clients: {app: {issuer: root}}\n")
    result = subprocess.run([sys.executable, "-c", APPLY_THEN_MODULES, "tls.yaml"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [0, expected]


SPY_PLUGIN = """
import os


class Spy:
    def new_schema_validator(self, schema, schema_type, *args, **kwargs):
        with open(os.environ["SPY_SAW"], "a") as seen:
            seen.write(getattr(schema_type, "__qualname__", str(schema_type)) + "\\n")
        return None, None, None


plugin = Spy()
"""


def test_the_tlsgen_program_runs_no_pydantic_plugin_of_another_package(tmp_path):
    """A package installed beside tlsgen that declares a pydantic plugin (an entry point of the
    group "pydantic", as logfire does) sees every model pydantic builds in the same interpreter;
    the tlsgen program turns them off (cli.entry), so its spec validation neither depends on them
    nor is shown to them."""
    site = tmp_path / "site"
    (site / "spy_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "spy_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (site / "spy_plugin-1.0.dist-info" / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    (site / "spy_plugin.py").write_text(SPY_PLUGIN)
    (tmp_path / "tls.yaml").write_text("version: 1\ncas: {root: {}}\nclients: {app: {issuer: root}}\n")
    saw = tmp_path / "saw.txt"
    env = {"PYTHONPATH": str(site), "SPY_SAW": str(saw)}
    result = tlsgen("validate", "tls.yaml", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert not saw.exists()
    # The control: the same interpreter, environment and models, imported without the program's entry.
    probe = subprocess.run([sys.executable, "-c", "import tlsgen.spec.schema"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60, env={**os.environ, **env, "PYTHONPATH": f"{REPO}:{site}"})
    assert probe.returncode == 0, probe.stderr
    assert "SpecModel" in saw.read_text().split()
