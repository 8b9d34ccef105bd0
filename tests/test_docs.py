"""Docs come from code: the CLI reference is generated and every command has help."""

from __future__ import annotations

from pathlib import Path

import typer

import sahid
from sahid.cli.docs import render, walk
from sahid.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    assert (ROOT / "docs" / "cli.md").read_text() == render(), (
        "run: python -m sahid.cli.docs > docs/cli.md"
    )


def test_every_command_and_option_has_help():
    for path, cmd in walk(typer.main.get_command(app), ["sahid"]):
        assert (cmd.help or "").strip(), path
        for param in cmd.params:
            if param.name != "help":
                assert (getattr(param, "help", "") or "").strip(), (path, param.name)


def test_public_api_is_pinned():
    assert sorted(sahid.__all__) == sorted(
        [
            "Archive",
            "AuthError",
            "ConfigError",
            "ConsistencyProof",
            "InclusionProof",
            "InputError",
            "LockedError",
            "NetworkError",
            "NotFound",
            "SahidError",
            "VerificationError",
            "__version__",
        ]
    )


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
