"""Download public MovieLens archives with checksum verification, then extract.

Needs internet (it cannot run on an offline machine); verification and
extraction are separate functions so they can be tested on local archives.
MD5 values are GroupLens's published ones; ``ml-latest-small`` is updated in
place by GroupLens, so its checksum is read from the ``.md5`` file published
next to the archive.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from recmodel.data.schema import DataError

BASE_URL = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class Archive:
    name: str
    url: str
    md5: str | None  # None: read from url + ".md5"
    folder: str


ARCHIVES = {
    "movielens-100k": Archive("movielens-100k", f"{BASE_URL}/ml-100k.zip", "0e33842e24a9c977be4e0107933c0723", "ml-100k"),
    "movielens-1m": Archive("movielens-1m", f"{BASE_URL}/ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906", "ml-1m"),
    "movielens-latest-small": Archive("movielens-latest-small", f"{BASE_URL}/ml-latest-small.zip", None,
                                      "ml-latest-small"),
}


def md5_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, expected_md5: str) -> None:
    actual = md5_of(path)
    if actual != expected_md5.lower():
        raise DataError(f"{path}: checksum mismatch: md5 {actual}, expected {expected_md5}; the download is "
                        "corrupt or the archive changed (delete it and retry)")


def extract(archive_path: Path, target_dir: Path) -> Path:
    """Extract a zip safely (no member may escape ``target_dir``); returns ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    root = target_dir.resolve()
    with zipfile.ZipFile(archive_path) as archive:
        for member in archive.namelist():
            if not (root / member).resolve().is_relative_to(root):
                raise DataError(f"{archive_path}: unsafe path in archive: {member}")
        archive.extractall(target_dir)
    return target_dir


def _fetch(url: str, target: Path) -> None:
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        with tqdm(total=total or None, unit="B", unit_scale=True, desc=target.name, file=sys.stderr) as bar:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                bar.update(len(chunk))
    partial.replace(target)


def download(name: str, directory: str | Path, *, archives: dict[str, Archive] = ARCHIVES) -> Path:
    """Download, verify and extract archive ``name`` into ``directory``; returns the data folder."""
    if name not in archives:
        raise DataError(f"unknown dataset '{name}'; allowed: {', '.join(archives)}")
    spec = archives[name]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    archive_path = directory / Path(spec.url).name
    try:
        if not archive_path.exists():
            _fetch(spec.url, archive_path)
        expected = spec.md5
        if expected is None:
            with urllib.request.urlopen(spec.url + ".md5", timeout=60) as response:
                expected = response.read().decode().split()[0]
        verify_checksum(archive_path, expected)
    except OSError as error:
        raise DataError(f"cannot download {spec.url}: {error} (this needs internet access)") from error
    extract(archive_path, directory)
    folder = directory / spec.folder
    if not folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        raise DataError(f"{archive_path}: expected folder '{spec.folder}' inside the archive")
    return folder
