"""The README's set-up commands are the ones CI runs."""

from conftest import REPO


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    test_command = ci_lines[-1]
    assert "pytest" in test_command
    assert f"    {test_command}\n" in readme


def test_readme_install_and_apply_command_is_there():
    readme = (REPO / "README.md").read_text()
    assert "    python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/tlsgen apply\n" in readme
