"""The command line: every command explains itself, and errors are one clear line."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from gridmgmt.cli import app

runner = CliRunner()


def _command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a sub-group
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "gridmgmt")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    """`--help` works for every command and describes it in words."""
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help.split()) >= 4, f"{' '.join(path)} needs a real help text"


def test_missing_district_is_one_line_without_traceback(tmp_path) -> None:
    """A missing district.toml gives a clear error naming the file and exit code 1."""
    missing = tmp_path / "nowhere" / "district.toml"
    result = runner.invoke(app, ["demo", "--district", str(missing), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "district file not found" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "store.gpkg").exists()
