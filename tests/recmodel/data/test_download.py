"""Download verification and extraction, on archives the tests build (file:// URLs, no internet)."""

import hashlib
import zipfile

import pytest

from recmodel.data.download import ARCHIVES, Archive, download, extract, verify_checksum
from recmodel.data.schema import DataError


@pytest.fixture
def archive(tmp_path, ml100k_dir):
    path = tmp_path / "served" / "ml-100k.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        for file in ml100k_dir.iterdir():
            zf.write(file, f"ml-100k/{file.name}")
    return path


def test_pinned_checksums_are_grouplens_md5s():
    assert ARCHIVES["movielens-100k"].md5 == "0e33842e24a9c977be4e0107933c0723"
    assert ARCHIVES["movielens-1m"].url.endswith("/ml-1m.zip")


def test_download_verifies_and_extracts(archive, tmp_path):
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    spec = {"movielens-100k": Archive("movielens-100k", archive.as_uri(), md5, "ml-100k")}
    folder = download("movielens-100k", tmp_path / "data", archives=spec)
    assert (folder / "u.data").read_text().startswith("196\t242")


def test_checksum_from_published_md5_file(archive, tmp_path):
    (archive.parent / "ml-100k.zip.md5").write_text(hashlib.md5(archive.read_bytes()).hexdigest() + "  ml-100k.zip\n")
    spec = {"latest": Archive("latest", archive.as_uri(), None, "ml-100k")}
    assert download("latest", tmp_path / "data", archives=spec).is_dir()


def test_corrupt_download_is_refused(archive, tmp_path):
    spec = {"movielens-100k": Archive("movielens-100k", archive.as_uri(), "0" * 32, "ml-100k")}
    with pytest.raises(DataError, match="checksum mismatch"):
        download("movielens-100k", tmp_path / "data", archives=spec)
    assert not (tmp_path / "data" / "ml-100k").exists()


def test_unreachable_url_says_internet_is_needed(tmp_path):
    spec = {"x": Archive("x", (tmp_path / "missing.zip").as_uri(), "0" * 32, "x")}
    with pytest.raises(DataError, match="needs internet access"):
        download("x", tmp_path / "data", archives=spec)


def test_unsafe_member_paths_are_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "x")
    with pytest.raises(DataError, match="unsafe path"):
        extract(evil, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()


def test_verify_checksum_accepts_the_right_md5(archive):
    verify_checksum(archive, hashlib.md5(archive.read_bytes()).hexdigest().upper())
