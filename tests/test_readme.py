"""The README's set-up commands are the ones CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ci_test_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = next(i for i, line in enumerate(lines) if "test command, verbatim" in line)
    return lines[marker + 1].strip()


def test_ci_runs_the_readme_test_command():
    command = _ci_test_command()
    assert command == "scripts/test"
    assert f"```bash\n{command}\n```" in (ROOT / "README.md").read_text()
    script = (ROOT / command).read_text()
    assert "python -m pytest" in script and "apt-get install" in script


def test_readme_main_job_names_a_shipped_scenario():
    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if "teachersim run scenarios/" in x and x.startswith("PYENV"))
    scenario = line.split("teachersim run ")[1].split()[0]
    assert (ROOT / scenario).is_file()
