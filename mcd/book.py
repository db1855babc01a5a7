"""The Jupyter Book: executed chapters made readable, and the build.

The chapters are executed by ``mcd study`` (papermill) into ``book/generated/``; this module then prepares each
executed notebook for reading and builds the book with ``-W`` from a configuration written for this build:

- every code cell is collapsed (``hide-input``: one click shows it), the cell papermill injects is removed;
- a banner under each chapter's title names the profile and the data the numbers come from (on the ``tiny``
  profile it says plainly that the numbers mean nothing), and links to re-running the chapter (its papermill
  command, and Binder / Colab when the repository is known);
- the repository and issue buttons point at the repository the book was built from (``$GITHUB_REPOSITORY`` in
  GitHub Actions, else the ``origin`` remote when it is on GitHub); without one the build still passes offline.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import yaml

from mcd.io import atomic_write_text

_GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:)([\w.-]+/[\w.-]+?)(?:\.git)?/?$")


def repository_slug(repo: Path) -> str | None:
    """``owner/name`` of the GitHub repository this checkout belongs to, or None when it cannot be told."""
    slug = os.environ.get("GITHUB_REPOSITORY", "").strip()
    if re.fullmatch(r"[\w.-]+/[\w.-]+", slug):
        return slug
    try:
        url = subprocess.run(["git", "remote", "get-url", "origin"], cwd=repo, capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    m = _GITHUB.match(url)
    return m.group(1) if m else None


def banner(profile: str, data: str) -> str:
    """One line for the top of every page: what the numbers were measured on."""
    if profile == "tiny":
        return (f"Built on the tiny profile ({data}): a smoke test of the code. Its numbers mean nothing; the "
                f"default profile's book is the one to read.")
    return (f"Built on the {profile} profile: {data}. SynthAVQA numbers are not a reproduction of the paper's "
            f"numbers on Music-AVQA.")


def book_config(repo: Path, *, announcement: str, slug: str | None) -> dict:
    """The repository's ``_config.yml`` with this build's banner and, when known, the repository buttons."""
    cfg = yaml.safe_load((repo / "_config.yml").read_text(encoding="utf-8"))
    html = cfg.setdefault("html", {})
    html["announcement"] = announcement
    if slug:
        cfg["repository"] = {"url": f"https://github.com/{slug}", "branch": "main", "path_to_book": "."}
        html.update(use_repository_button=True, use_issues_button=True)
    return cfg


def rerun_links(chapter: str, profile: str, slug: str | None) -> str:
    """Markdown: how to re-run this chapter under one's own settings."""
    cmd = f"papermill notebooks/{chapter}.ipynb out.ipynb -p profile {profile}"
    text = f"Re-run this chapter with your own settings: `{cmd}` (parameters are listed in its first cell)."
    if slug:
        binder = f"https://mybinder.org/v2/gh/{slug}/main?labpath=notebooks%2F{chapter}.ipynb"
        colab = f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{chapter}.ipynb"
        text += f" Launch: [Binder]({binder}) · [Colab]({colab})."
    return text


PRINT_WIDTH = 88   # characters of printed output the book's page column shows without scrolling


def wrap_printed(text: str, width: int = PRINT_WIDTH) -> str:
    """Printed prose wrapped to the page column: a line longer than ``width`` is broken at spaces, its
    continuation indented under it; words (paths, commands) are never split, and shorter lines are kept as they are."""
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        out.append(textwrap.fill(line.strip(), width, initial_indent=indent, subsequent_indent=indent + "  ",
                                 break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


def prepare_notebook(path: Path, *, chapter: str, profile: str, data: str, slug: str | None) -> None:
    """Collapse the code, wrap printed lines to the page, drop papermill's injected cell, and put the banner
    under the title."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags", []))
        if "injected-parameters" in tags:
            continue
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                output["text"] = wrap_printed(output["text"])
        if cell.cell_type == "code" and "hide-input" not in tags:
            tags.append("hide-input")
        cell.metadata["tags"] = tags
        cells.append(cell)
    note = nbformat.v4.new_markdown_cell(f"```{{note}}\n{banner(profile, data)}\n\n"
                                         f"{rerun_links(chapter, profile, slug)}\n```")
    note.metadata["tags"] = ["mcd-banner"]
    cells = [c for c in cells if "mcd-banner" not in c.metadata.get("tags", [])]
    title = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), -1)
    cells.insert(title + 1, note)
    nb.cells = cells
    atomic_write_text(path, nbformat.writes(nb))


def build(repo: Path, *, profile: str, data: str, out_dir: Path) -> Path:
    """Write this build's configuration beside the executed chapters and build the book with ``-W``."""
    slug = repository_slug(repo)
    config = out_dir / "_config.yml"
    atomic_write_text(config, yaml.safe_dump(book_config(repo, announcement=banner(profile, data), slug=slug),
                                             sort_keys=False))
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(repo), "--config", str(config),
           "-W", "-n", "--keep-going"]
    print("== building the book:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=repo)
    return repo / "_build" / "html" / "index.html"
