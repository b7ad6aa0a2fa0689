"""The README's Quickstart holds exactly two commands, and CI runs exactly those."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def quickstart_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quickstart_has_two_commands_demo_then_tests():
    commands = quickstart_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert "funcjax.demo" in commands[0] and "pytest" in commands[1]


def test_ci_runs_the_readme_commands():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for command in quickstart_commands():
        assert command in ci_lines
