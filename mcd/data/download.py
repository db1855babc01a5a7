"""``mcd data download``: fetch the official Music-AVQA annotation files into the layout the package reads.

Files come from the dataset's public repository (GeWu-Lab/MUSIC-AVQA, MIT licence) at a fixed commit and are
verified against their git blob ids, so that every user reads byte-identical annotations. Features (40+ GB per
backbone) are not downloaded here: see the README for where the official release keeps them.

``download_predictions`` fetches a model's published per-question predictions (``PUBLISHED_PREDICTIONS``) in the
same way, for ``mcd score`` and the real-question chapter.
"""
from __future__ import annotations

import hashlib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mcd.io import atomic_write_bytes

REPO = "https://raw.githubusercontent.com/GeWu-Lab/MUSIC-AVQA"
COMMIT = "cc8809514a2ee3d7ae81a3021c15e7c0679170d7"
# path in the repository -> git blob id (from the repository's tree at COMMIT)
FILES = {
    "data/json_update/avqa-train.json": "dfb9233f598bb27ce6d2783ca377131a6ae2be2c",
    "data/json_update/avqa-val.json": "dcda27ddfd5de55e8e5723b5ffe5b40d35efeabc",
    "data/json_update/avqa-test.json": "84e8b4579b1bd62e5bf0b5e1e6545a3e68b39f88",
    "data/json/avqa-train.json": "d1da1c6da7ea5a523b93d0dc73444f3b69967528",
    "data/json/avqa-val.json": "682bca7ad3a09969995ac9fe5d6378145e92797f",
    "data/json/avqa-test.json": "835b8b552ce71548a04bfb50806d619f94bd5947",
}


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def download(dest: Path, *, base_url: str = f"{REPO}/{COMMIT}", files: dict[str, str] = FILES) -> list[Path]:
    """Download and verify each file to ``dest/{json,json_update}/``; files already present and valid are kept."""
    written = []
    for path, blob in tqdm(files.items(), desc="Music-AVQA annotations"):
        target = Path(dest) / Path(path).relative_to("data")
        if target.exists() and git_blob_id(target.read_bytes()) == blob:
            written.append(target)
            continue
        with urllib.request.urlopen(f"{base_url}/{path}", timeout=120) as r:
            data = r.read()
        if git_blob_id(data) != blob:
            raise ValueError(f"{base_url}/{path}: content does not match git blob {blob}; not written")
        atomic_write_bytes(target, data)
        written.append(target)
    return written


@dataclass(frozen=True)
class PublishedPredictions:
    """A per-question prediction file its authors publish in their repository, pinned to a commit and verified
    by its git blob id (read from the repository's tree at that commit). Never committed here: downloaded on
    demand into ``data/`` (ignored by git) and read with ``mcd score``."""

    repo: str            # owner/name on GitHub
    commit: str
    path: str            # path in the repository
    blob: str            # git blob id of the file at ``commit``
    format: str          # its ``mcd score`` format
    questions: str       # the question set it answers
    about: str

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.path}"


PUBLISHED_PREDICTIONS = {
    "tspm": PublishedPredictions(
        repo="GeWu-Lab/TSPM", commit="0106ce4127b8aa6728ee09439a59fbe7f19fe2f4", path="results/TSPM.result",
        blob="dee3418b25e2d79f3a7087b4488f7fed1408aebc", format="correct", questions="json_update test",
        about="TSPM (ACM MM 2024): one line per question: id, correct flag, gold and predicted index into TSPM's "
              "own answer list. Added in commit 259d4f5; the repository has no LICENSE file, so the file is "
              "fetched by each user, not redistributed."),
}


def download_predictions(name: str, dest: Path, *, base_url: str | None = None) -> Path:
    """Fetch the published prediction file ``name`` into ``dest`` and verify its git blob id; a file already
    there and valid is kept. ``base_url`` replaces ``https://raw.githubusercontent.com/{repo}/{commit}``."""
    if name not in PUBLISHED_PREDICTIONS:
        raise ValueError(f"no published prediction file named {name!r}; known: {sorted(PUBLISHED_PREDICTIONS)}")
    known = PUBLISHED_PREDICTIONS[name]
    target = Path(dest) / Path(known.path).name
    if target.exists() and git_blob_id(target.read_bytes()) == known.blob:
        return target
    url = f"{base_url}/{known.path}" if base_url else known.url
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            data = r.read()
    except OSError as e:
        raise ValueError(f"{url}: cannot be fetched ({getattr(e, 'reason', e)})") from None
    if git_blob_id(data) != known.blob:
        raise ValueError(f"{url}: content does not match git blob {known.blob} of {known.repo}@{known.commit[:7]}; "
                         f"not written")
    atomic_write_bytes(target, data)
    return target
