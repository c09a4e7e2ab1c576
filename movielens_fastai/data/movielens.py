"""MovieLens 100K: getting it onto disk, checking it, and reading it.

The dataset's licence forbids redistribution, so the project never ships it:
``fetch_movielens`` downloads GroupLens's official archive, verifies it, and only
then puts its files in place. ``check_movielens`` is run before any training so a
damaged file stops the notebook with the file, the line and the problem.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd

from ..core import MOVIE, RATING_COLUMNS, TITLE, SetupError, project_root

DATA_DIR_ENV = "MOVIELENS_DIR"

OFFICIAL_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# GroupLens publishes the archive's MD5 (ml-100k.zip.md5); its size is fixed too.
OFFICIAL_MD5 = "0e33842e24a9c977be4e0107933c0723"
OFFICIAL_SIZE = 4_924_029
# SHA-256 of every file we use, taken from the official archive (shipped inside the package).
CHECKSUMS_FILE = Path(__file__).with_name("ml-100k.sha256")
RATING_RANGE = (1, 5)


def project_data_dir() -> Path:
    """``ml-100k/`` in the project's checkout, where the download goes by default."""
    return project_root() / "ml-100k"


class DataError(ValueError):
    """The data on disk is missing or not what MovieLens 100K looks like."""


class DownloadError(RuntimeError):
    """The archive could not be fetched, or it is not the official one."""


# What to do when the folder holds something other than MovieLens 100K.
GET_100K = (f"these notebooks need MovieLens 100K's u.data and u.item: set {DATA_DIR_ENV} to an "
            "ml-100k folder or leave it unset to download it")
# Files that identify another MovieLens release, and how to name it.
OTHER_RELEASES = (
    ("ratings.dat", "MovieLens 1M or 10M (ratings.dat, '::'-separated)"),
    ("ratings.csv", "a MovieLens 'latest', 20M or 25M release (ratings.csv, comma-separated with a header)"),
)


def _other_release(line: str) -> str | None:
    """The MovieLens release a line of a ratings or movies file comes from, if not 100K."""
    if len(line.split("::")) >= 3:
        return "MovieLens 1M or 10M's '::'-separated ratings.dat or movies.dat"
    if line.lower().startswith(("userid,movieid", "movieid,title")):
        return "a MovieLens 'latest', 20M or 25M release's ratings.csv or movies.csv"
    return None


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the notebooks read MovieLens from.

    An explicit ``data_dir`` wins, then ``$MOVIELENS_DIR``, then the project's own
    ``ml-100k/``, which is downloaded and verified when ``u.data`` is not there yet.
    """
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        data_dir = os.environ[DATA_DIR_ENV]
    if data_dir is not None:
        path = Path(data_dir).expanduser().resolve()
        if not path.is_dir():
            raise DataError(f"{path}: data directory does not exist")
        return path
    try:
        default = project_data_dir()
    except SetupError as err:
        raise DataError(f"{err}; or set {DATA_DIR_ENV} to a folder holding MovieLens 100K") from None
    if not (default / "u.data").exists():
        fetch_movielens(default)
    return default


def read_checksums(path: Path = CHECKSUMS_FILE) -> dict[str, str]:
    """``{file name: sha256}`` from a ``sha256sum``-style list."""
    sums = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    return _digest(path, "sha256")


def fetch_archive(
    dest: str | os.PathLike,
    url: str,
    md5: str,
    size: int,
    files: dict[str, str | None],
    marker: str,
    timeout: float = 60,
    advice: str = f"to use a copy you already have, set {DATA_DIR_ENV} to its folder",
    checksums_name: str = "SHA256SUMS",
) -> Path:
    """Download a zip archive, verify its size and MD5, then move ``files`` into ``dest``.

    ``files`` maps each wanted file's name (found anywhere in the archive) to its SHA-256,
    or to None where only the archive's MD5 vouches for it. Everything is staged in a
    temporary folder beside ``dest``; ``marker`` (one of ``files``) is moved in last, so a
    ``dest`` without it always means "not downloaded yet" and an interrupted or refused
    download leaves nothing behind.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-download-", dir=dest.parent))
    try:
        archive = staging / "archive.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(f"{url}: download failed ({err}); {advice}") from err
        got_size = archive.stat().st_size
        if got_size != size:
            raise DownloadError(f"{url}: expected {size:,} bytes, got {got_size:,} "
                                "(truncated or not the official archive); nothing was installed")
        got_md5 = _digest(archive, "md5")
        if got_md5 != md5:
            raise DownloadError(f"{url}: MD5 {got_md5} does not match the official {md5} "
                                "(altered or corrupt archive); nothing was installed")
        unpacked = staging / "files"
        unpacked.mkdir()
        try:
            with zipfile.ZipFile(archive) as zf:
                members = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
                for name, digest in files.items():
                    if name not in members:
                        raise DownloadError(f"{url}: archive has no {name}; nothing was installed")
                    target = unpacked / name
                    with zf.open(members[name]) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    if digest is not None and sha256_of(target) != digest:
                        raise DownloadError(f"{url}: {name} does not match its SHA-256 in "
                                            f"{checksums_name}; nothing was installed")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
            raise DownloadError(f"{url}: not a valid zip archive ({err}); nothing was installed") from err
        # The marker last: its presence means "dataset complete".
        for name in sorted(files, key=lambda n: n == marker):
            os.replace(unpacked / name, dest / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def fetch_movielens(
    dest: str | os.PathLike | None = None,
    url: str = OFFICIAL_URL,
    md5: str = OFFICIAL_MD5,
    size: int = OFFICIAL_SIZE,
    checksums: dict[str, str] | None = None,
    timeout: float = 60,
) -> Path:
    """Download MovieLens 100K, verify the archive and each file's SHA-256, install it in ``dest``.

    ``u.data`` is moved in last (see ``fetch_archive``): a ``dest`` without it means
    "not downloaded yet", and a refused download leaves nothing behind.
    """
    checksums = read_checksums() if checksums is None else checksums
    dest = project_data_dir() if dest is None else dest
    return fetch_archive(dest, url, md5, size, files=dict(checksums), marker="u.data", timeout=timeout,
                         checksums_name="SHA256SUMS")


def require_file(path: Path) -> Path:
    """``path``, if it is a file; else a ``DataError`` naming the missing folder or file."""
    if not path.parent.is_dir():
        raise DataError(f"{path.parent}: data directory does not exist")
    if not path.is_file():
        raise DataError(f"{path}: file is missing")
    return path


def parse_int(text: str, path: Path, lineno: int, what: str) -> int:
    """``text`` as an int, else a ``DataError`` at ``path:lineno`` naming ``what`` it should be."""
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}:{lineno}: {what} {text!r} is not an integer") from None


def _field_problem(path: Path, lineno: int, line: str, fields: list[str]) -> str:
    """Why a line does not have 4 tab-separated fields, in the words a person can act on."""
    where = f"{path}:{lineno}"
    release = _other_release(line)
    if release:
        return f"{where}: this looks like {release}, not MovieLens 100K's u.data; {GET_100K}"
    if "," in line and len(line.split(",")) == 4:
        header = " with a header line" if lineno == 1 and not line.split(",")[0].strip().isdigit() else ""
        return (f"{where}: fields are separated by commas{header}, as in a CSV file: u.data has no "
                "header and tab-separated fields (user, movie, rating, timestamp); was it re-saved by a "
                "spreadsheet? Use the original u.data")
    if len(line.split()) == 4:
        return (f"{where}: fields are separated by spaces, not tabs: u.data needs tab-separated fields "
                "(user, movie, rating, timestamp); was it re-saved by an editor that turns tabs into "
                "spaces? Use the original u.data")
    return (f"{where}: expected 4 tab-separated fields (user, movie, rating, timestamp), "
            f"found {len(fields)}")


def check_ratings_file(path: Path) -> set[int]:
    """Validate ``u.data`` line by line; returns the movie ids it uses.

    Accepted as harmless, because pandas' ``read_csv(sep='\\t', header=None)`` reads the same
    table from them: Windows line ends (CRLF), blank lines at the end of the file and a UTF-8
    byte-order mark at its start. Anything else that differs from the official layout is refused.
    """
    path = require_file(Path(path))
    seen_pairs: dict[tuple[int, int], int] = {}
    movie_ids: set[int] = set()
    blank_since = None
    with open(path, encoding="utf-8-sig", errors="replace") as lines:
        for lineno, line in enumerate(lines, start=1):
            line = line.rstrip("\r\n")
            if not line:
                blank_since = blank_since or lineno
                continue
            if blank_since is not None:
                raise DataError(f"{path}:{blank_since}: blank line among the ratings: u.data has one "
                                "rating per line; delete the blank line (or use the original u.data)")
            fields = line.split("\t")
            if len(fields) != 4:
                raise DataError(_field_problem(path, lineno, line, fields))
            if lineno == 1 and not any(f.strip().lstrip("-").isdigit() for f in fields):
                raise DataError(f"{path}:1: a header line ({line!r}): u.data has none, its first line "
                                "is already a rating; delete the header (or use the original u.data)")
            user, movie, rating, _ = (
                parse_int(text, path, lineno, what)
                for text, what in zip(fields, ("user id", "movie id", "rating", "timestamp"), strict=True)
            )
            if not RATING_RANGE[0] <= rating <= RATING_RANGE[1]:
                raise DataError(f"{path}:{lineno}: rating {rating} is outside "
                                f"{RATING_RANGE[0]}-{RATING_RANGE[1]}")
            if (user, movie) in seen_pairs:
                raise DataError(f"{path}:{lineno}: user {user} rated movie {movie} again "
                                f"(first on line {seen_pairs[user, movie]})")
            seen_pairs[user, movie] = lineno
            movie_ids.add(movie)
    if not seen_pairs:
        raise DataError(f"{path}: file is empty, expected one rating per line")
    return movie_ids


def read_ratings_file(path: str | os.PathLike, expected_rows: int | None = None) -> pd.DataFrame:
    """A u.data-format file (``u.data``, ``u1.base`` ...) as a frame with ``RATING_COLUMNS``, after
    ``check_ratings_file``; with ``expected_rows``, a file of any other length is damaged too."""
    path = Path(path)
    check_ratings_file(path)
    ratings = pd.read_csv(path, sep="\t", header=None, names=RATING_COLUMNS, dtype="int64")
    if expected_rows is not None and len(ratings) != expected_rows:
        raise DataError(f"{path}: expected exactly {expected_rows:,} ratings (one per line), "
                        f"found {len(ratings):,}")
    return ratings


def _read_titles_text(path: Path) -> str:
    """u.item's text. The official file is latin-1 (e.g. "Café au lait"), not UTF-8; a copy
    re-saved as UTF-8 (with or without a byte-order mark) has the same titles, so it is read
    as UTF-8. Latin-1 text with accents is never valid UTF-8, so the two cannot be confused."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def load_movies(data_dir: str | os.PathLike) -> pd.DataFrame:
    """``Movie ID`` and ``Title`` from ``u.item`` (latin-1 or UTF-8, ``|``-separated)."""
    path = require_file(Path(data_dir) / "u.item")
    rows = []
    lines = _read_titles_text(path).split("\n")
    while lines and not lines[-1].rstrip("\r"):   # blank lines at the end are harmless
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        fields = line.split("|")
        release = _other_release(line) if len(fields) < 2 or not fields[0].isdigit() else None
        if release:
            raise DataError(f"{path}:{lineno}: this looks like {release}, not MovieLens 100K's "
                            f"u.item; {GET_100K}")
        if len(fields) < 2:
            raise DataError(f"{path}:{lineno}: expected '|'-separated fields "
                            "(movie id|title|...), found none")
        rows.append((parse_int(fields[0], path, lineno, "movie id"), fields[1]))
    movies = pd.DataFrame(rows, columns=[MOVIE, TITLE])
    duplicated = movies[MOVIE].duplicated()
    if duplicated.any():
        lineno = int(duplicated.to_numpy().argmax()) + 1
        raise DataError(f"{path}:{lineno}: movie id {movies[MOVIE][lineno - 1]} is listed twice")
    return movies


def _missing_ratings_problem(data_dir: Path) -> str:
    """Why a folder has no u.data, when another MovieLens release or an ml-100k subfolder
    explains it; otherwise the plain fact."""
    path = data_dir / "u.data"
    if (data_dir / "ml-100k" / "u.data").is_file():
        return (f"{path}: file is missing, but {data_dir / 'ml-100k'} has one: set {DATA_DIR_ENV} "
                "to that folder")
    for name, release in OTHER_RELEASES:
        if (data_dir / name).is_file():
            return f"{path}: file is missing; this folder looks like {release}; {GET_100K}"
    splits = sorted(p.name for p in data_dir.glob("u[1-5ab].base"))
    if splits:
        return (f"{path}: file is missing; the folder has MovieLens 100K's {', '.join(splits)} but not "
                "u.data, the 100,000 ratings the notebooks read: copy u.data from the official "
                f"ml-100k.zip into it, or leave {DATA_DIR_ENV} unset to download it")
    return f"{path}: file is missing"


def _renamed_split(path: Path) -> str | None:
    """The canonical split file (u1.base ... ub.test) that ``path`` is an exact copy of."""
    digest = sha256_of(path)
    for name, known in read_checksums().items():
        if known == digest and name.endswith((".base", ".test")):
            return name
    return None


def check_movielens(data_dir: str | os.PathLike) -> None:
    """Stop with a clear message if ``u.data`` or ``u.item`` is damaged, or not MovieLens 100K's."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data directory does not exist")
    path = data_dir / "u.data"
    if not path.is_file():
        raise DataError(_missing_ratings_problem(data_dir))
    used = check_ratings_file(path)
    split = _renamed_split(path)
    if split:
        with open(path, encoding="utf-8-sig") as lines:
            n = sum(1 for line in lines if line.strip())
        raise DataError(f"{path}: this is MovieLens 100K's {split} ({n:,} ratings) under another name; "
                        "u.data is the full set of 100,000 ratings: copy u.data from the official "
                        f"ml-100k.zip, or leave {DATA_DIR_ENV} unset to download it")
    known = set(load_movies(data_dir)[MOVIE])
    unknown = sorted(used - known)
    if unknown:
        with open(path, encoding="utf-8-sig") as lines:
            lineno = next(i for i, line in enumerate(lines, start=1)
                          if line.strip() and int(line.split("\t")[1]) == unknown[0])
        raise DataError(f"{path}:{lineno}: movie id {unknown[0]} is not in "
                        f"{data_dir / 'u.item'} ({len(unknown)} unknown movie id(s) in all)")
