"""The download step, against a local HTTP server: the good archive is installed,
a truncated, altered or interrupted one is refused and leaves nothing behind."""

import hashlib
import io
import zipfile

import pytest

import movielens_fastai as mlf
from movielens_fastai.data.movielens import read_checksums

FILES = ("u.data", "u.item")


@pytest.fixture(scope="module")
def archive(data_dir):
    """An archive laid out like GroupLens's (files under ml-100k/), built from the real files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/", "")
        for name in FILES:
            zf.write(data_dir / name, f"ml-100k/{name}")
    return buf.getvalue()




def fetch(dest, url, body, **overrides):
    checks = dict(md5=hashlib.md5(body).hexdigest(), size=len(body),
                  checksums={n: d for n, d in read_checksums().items() if n in FILES}, timeout=10)
    checks.update(overrides)
    return mlf.fetch_movielens(dest, url=url, **checks)


def leftovers(tmp_path):
    return sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))


def test_good_archive_is_installed(tmp_path, serve, archive, data_dir):
    dest = tmp_path / "ml-100k"
    fetch(dest, serve(archive) + "/ml-100k.zip", archive)
    for name in FILES:
        assert (dest / name).read_bytes() == (data_dir / name).read_bytes()
    assert leftovers(tmp_path) == ["ml-100k", "ml-100k/u.data", "ml-100k/u.item"]
    mlf.check_movielens(dest)


def test_truncated_archive_is_refused(tmp_path, serve, archive):
    url = serve(archive[: len(archive) // 2]) + "/ml-100k.zip"
    with pytest.raises(mlf.DownloadError) as err:
        fetch(tmp_path / "ml-100k", url, archive)
    assert str(err.value) == (f"{url}: expected {len(archive):,} bytes, got {len(archive) // 2:,} "
                              "(truncated or not the official archive); nothing was installed")
    assert leftovers(tmp_path) == ["ml-100k"]


def test_altered_archive_is_refused(tmp_path, serve, archive):
    altered = bytearray(archive)
    altered[len(altered) // 2] ^= 0xFF
    url = serve(bytes(altered)) + "/ml-100k.zip"
    with pytest.raises(mlf.DownloadError) as err:
        fetch(tmp_path / "ml-100k", url, archive)
    assert str(err.value) == (f"{url}: MD5 {hashlib.md5(altered).hexdigest()} does not match the official "
                              f"{hashlib.md5(archive).hexdigest()} (altered or corrupt archive); "
                              "nothing was installed")
    assert leftovers(tmp_path) == ["ml-100k"]


def test_archive_with_a_changed_file_is_refused(tmp_path, serve, data_dir):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-100k/u.data", (data_dir / "u.data").read_bytes().replace(b"\t5\t", b"\t4\t", 1))
        zf.write(data_dir / "u.item", "ml-100k/u.item")
    body = buf.getvalue()
    url = serve(body) + "/ml-100k.zip"
    with pytest.raises(mlf.DownloadError) as err:
        fetch(tmp_path / "ml-100k", url, body)
    assert str(err.value) == f"{url}: u.data does not match its SHA-256 in SHA256SUMS; nothing was installed"
    assert leftovers(tmp_path) == ["ml-100k"]


def test_interrupted_download_leaves_nothing_and_a_retry_succeeds(tmp_path, serve, archive):
    dest = tmp_path / "ml-100k"
    url = serve(archive, cut_at=len(archive) // 3) + "/ml-100k.zip"
    with pytest.raises(mlf.DownloadError, match=r"expected [0-9,]+ bytes, got [0-9,]+ \(truncated"):
        fetch(dest, url, archive)
    assert leftovers(tmp_path) == ["ml-100k"]
    fetch(dest, serve(archive) + "/ml-100k.zip", archive)
    mlf.check_movielens(dest)


def test_unreachable_server_fails_fast_with_advice(tmp_path):
    with pytest.raises(mlf.DownloadError) as err:
        mlf.fetch_movielens(tmp_path / "ml-100k", url="http://127.0.0.1:9/ml-100k.zip", timeout=5)
    assert "download failed" in str(err.value) and "set MOVIELENS_DIR to its folder" in str(err.value)
    assert leftovers(tmp_path) == ["ml-100k"]
