"""The Flower app's own files, staged in a temporary directory for ``flwr run``.

``flwr run <dir>`` builds the app's FAB by resolving the path of every file under the directory, a virtual
environment inside it included (``.venv``: about 44,000 files, 7 s of CPU on this machine kind), and only then
drops what its publish rules and the app's ``.gitignore`` exclude. ``staged_app`` walks the app directory without
entering the ignored directories, applies Flower's own rules (``flwr.cli.utils.filter_paths_for_publish``) to what
it finds and copies the result: ``flwr run`` on the copy builds a FAB with the same files and the same hash, in a
fraction of a second.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

ANY_NAME = "\x00"  # a file name no literal pattern names: only a wildcard matches it


def app_files(app: Path) -> dict[str, Path]:
    """{relative POSIX path: file} that Flower packs into the FAB of ``app`` (same rules, same result)."""
    from flwr.cli.utils import build_pathspec, filter_paths_for_publish, load_gitignore_patterns
    from flwr.supercore.constant import APP_PUBLISH_EXCLUDE_PATTERNS

    root = app.expanduser().resolve()
    gitignore = root / ".gitignore"
    skipped = build_pathspec((*load_gitignore_patterns(gitignore if gitignore.is_file() else b""),
                              *APP_PUBLISH_EXCLUDE_PATTERNS))
    found: dict[str, Path] = {}
    for directory, subdirectories, names in os.walk(root, followlinks=False):
        relative = Path(directory).relative_to(root)
        # A directory the rules drop whole is not entered (".venv/", "runs/", "__pycache__/"): one that matches as
        # a directory, or whose patterns match any name in it (".venv/**"; ANY_NAME matches only wildcards).
        subdirectories[:] = [d for d in subdirectories
                             if not skipped.match_file(f"{(relative / d).as_posix()}/")
                             and not skipped.match_file(f"{(relative / d).as_posix()}/{ANY_NAME}")]
        for name in names:
            path = Path(directory) / name
            if not path.is_symlink():  # Flower skips links too
                found[(relative / name).as_posix()] = path
    return filter_paths_for_publish(found)


@contextlib.contextmanager
def staged_app(app: Path) -> Iterator[Path]:
    """A temporary copy of ``app``'s FAB files, removed afterwards; ``app`` itself when it has no pyproject.toml
    (not a local app: Flower reports that itself)."""
    if not (Path(app).expanduser() / "pyproject.toml").is_file():
        yield Path(app)
        return
    with tempfile.TemporaryDirectory(prefix="fedrec-app-") as staging:
        target = Path(staging) / Path(app).expanduser().resolve().name
        for relative, source in app_files(Path(app)).items():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        yield target
