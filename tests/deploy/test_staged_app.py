"""deploy.staged_app: the files Flower packs into the FAB, found without walking ignored directories."""

from __future__ import annotations

from pathlib import Path

from flwr.cli.build import build_fab_from_disk
from flwr.cli.utils import collect_files, filter_paths_for_publish

from deploy.staged_app import app_files, staged_app

REPO = Path(__file__).resolve().parents[2]


def _write(root: Path, relative: str, text: str = "x = 1\n") -> None:
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(text)


def test_the_files_are_flowers_own_selection(tmp_path):
    app = tmp_path / "app"
    _write(app, "pyproject.toml", "[project]\nname = 'a'\n")
    _write(app, ".gitignore", "runs/\n*.log\n/build/\nnotes-*.md\n")
    for kept in ("pkg/a.py", "pkg/sub/b.py", "docs/c.md", "pkg/settings.json", "LICENSE"):
        _write(app, kept)
    for dropped in (".venv/lib/site.py", "runs/x/summary.json", "pkg/__pycache__/a.py", "build/z.py", "x.log",
                    "notes-1.md", "pkg/data.parquet", ".flwr/config.toml"):
        _write(app, dropped)
    (app / "link.py").symlink_to(app / "pkg" / "a.py")
    expected = filter_paths_for_publish(collect_files(app))
    assert app_files(app) == expected
    assert sorted(expected) == [".gitignore", "LICENSE", "docs/c.md", "pkg/a.py", "pkg/settings.json",
                                "pkg/sub/b.py", "pyproject.toml"]


def test_flwr_builds_the_same_fab_from_the_staged_copy_of_this_repository():
    with staged_app(REPO) as staged:
        assert staged != REPO and (staged / "pyproject.toml").is_file()
        assert build_fab_from_disk(staged) == build_fab_from_disk(REPO)  # byte for byte: same files, same hash
    assert not staged.exists()


def test_a_path_that_is_not_a_local_app_is_passed_on_unchanged(tmp_path):
    with staged_app(tmp_path / "missing") as staged:
        assert staged == tmp_path / "missing"
