"""The documentation keeps up with the code: every flag is on the CLI page, every link
resolves, and the README stays a short front page."""

import argparse
import re
from pathlib import Path

import pytest

from zipfit_ray.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README_LIMIT = 16 * 1024


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("command", list(commands()))
def test_the_cli_page_names_every_flag_of_every_command(command):
    page = (ROOT / "docs" / "cli.md").read_text()
    section = page.split(f"## `{command}`", 1)[1].split("\n## ", 1)[0]
    flags = {
        option
        for action in commands()[command]._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    missing = sorted(flag for flag in flags if not re.search(rf"`{flag}\b", section))
    assert not missing, f"docs/cli.md, section {command}: {missing}"


def test_every_relative_link_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}"


def test_the_readme_is_a_short_front_page():
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT


def tables(text: str) -> list[list[str]]:
    """Every Markdown table in ``text``, as its lines (header, rule, rows)."""
    found, lines = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            lines.append(line.strip())
        elif lines:
            found.append(lines)
            lines = []
    return found


def copied_tables() -> list[tuple[str, list[str]]]:
    """The README's tables marked ``<!-- rows of docs/X.md -->``: (source, table lines)."""
    readme = (ROOT / "README.md").read_text()
    return [
        (source, tables(rest)[0])
        for source, rest in re.findall(r"<!-- rows of (\S+) -->\n((?:\|.*\n)+)", readme)
    ]


def test_the_readme_copies_its_figures_from_the_docs_row_for_row():
    """One source for every figure: a README table is rows of a docs table, as they are."""
    copied = copied_tables()
    assert {source for source, _ in copied} >= {
        "docs/compressors.md",
        "docs/evaluate.md",
        "docs/trust.md",
    }
    for source, table in copied:
        in_source = [t for t in tables((ROOT / source).read_text()) if t[0] == table[0]]
        assert in_source, f"{source} has no table headed {table[0]}"
        stray = [row for row in table[2:] if row not in in_source[0][2:]]
        assert not stray, f"README rows not in {source}: {stray}"
