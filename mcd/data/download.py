"""``mcd data download``: fetch the official Music-AVQA annotation files into the layout the package reads.

Files come from the dataset's public repository (GeWu-Lab/MUSIC-AVQA, MIT licence) at a fixed commit and are
verified against their git blob ids, so that every user reads byte-identical annotations. Features (40+ GB per
backbone) are not downloaded here: see the README for where the official release keeps them.
"""
from __future__ import annotations

import hashlib
import urllib.request
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
