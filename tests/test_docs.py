"""The user's guide and docs/: short, linked, and their commands valid.

Every ``fedrec ...`` line of a bash block in README.md and docs/*.md must parse with the real ``fedrec``
argument parser (a renamed flag breaks the docs, not a user); every block preceded by ``<!-- runnable -->``
is run, in a fresh directory, and must exit 0. Links to files in the repository must resolve.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from recmodel.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- runnable -->\n)?```bash\n(.*?)```", re.S)
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


def blocks(page: Path) -> list[tuple[bool, str]]:
    """(marked runnable, text) of every bash block of ``page``."""
    return [(bool(marker), text) for marker, text in BLOCK.findall(page.read_text(encoding="utf-8"))]


def command_lines(text: str) -> list[str]:
    """The block's logical lines (backslash continuations joined), comments and blank lines dropped."""
    joined = text.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_readme_is_a_short_guide_with_contents_linking_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 220
    assert "**Contents:**" in readme
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_fedrec_command_in_the_docs_parses(page):
    parser = build_parser()
    for _, text in blocks(page):
        for line in command_lines(text):
            words = shlex.split(line, comments=True)
            if not words or words[0] != "fedrec":
                continue
            try:
                parser.parse_args(words[1:])
            except SystemExit:
                pytest.fail(f"{page.name}: `{line}` is not a valid fedrec command line")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_to_a_repository_file_resolves(page):
    for target, _ in LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name}: link to {target} does not resolve"


def test_every_block_marked_runnable_runs(tmp_path):
    runnable = [(page, text) for page in PAGES for marked, text in blocks(page) if marked]
    assert runnable, "no block is marked <!-- runnable -->"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for page, text in runnable:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"{page.name}: block failed:\n{text}\n{done.stdout}\n{done.stderr}"
