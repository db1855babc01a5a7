"""The book's build helpers: the banner, the collapsed code, the repository buttons."""
from __future__ import annotations

import nbformat

from mcd import book


def test_banner_says_tiny_numbers_mean_nothing():
    assert "mean nothing" in book.banner("tiny", "SynthAVQA v2.0 'tiny'")
    text = book.banner("default", "SynthAVQA v2.0 'default'")
    assert "mean nothing" not in text and "not a reproduction" in text and "default" in text


def test_repository_slug_from_actions_or_a_github_remote(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/mcd-repro")
    assert book.repository_slug(tmp_path) == "someone/mcd-repro"
    monkeypatch.delenv("GITHUB_REPOSITORY")
    assert book.repository_slug(tmp_path) is None                    # not a checkout: no buttons, no error
    assert book._GITHUB.match("git@github.com:a/b.git").group(1) == "a/b"
    assert book._GITHUB.match("https://github.com/a/b").group(1) == "a/b"
    assert book._GITHUB.match("https://example.org/a/b") is None


def test_config_has_buttons_only_with_a_repository(tmp_path):
    (tmp_path / "_config.yml").write_text("title: t\nhtml:\n  use_repository_button: false\n")
    off = book.book_config(tmp_path, announcement="x", slug=None)
    assert off["html"] == {"use_repository_button": False, "announcement": "x"} and "repository" not in off
    on = book.book_config(tmp_path, announcement="x", slug="a/b")
    assert on["repository"]["url"] == "https://github.com/a/b" and on["html"]["use_issues_button"]


def test_prepare_notebook_collapses_code_and_adds_one_banner(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("profile = None"),
                nbformat.v4.new_code_cell("profile = 'tiny'"), nbformat.v4.new_code_cell("print(1)")]
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.cells[2].metadata["tags"] = ["injected-parameters"]
    path = tmp_path / "table2_fusion.ipynb"
    nbformat.write(nb, path)
    for _ in range(2):                                                # idempotent: one banner however often
        book.prepare_notebook(path, chapter="table2_fusion", profile="tiny", data="d", slug="a/b")
    cells = nbformat.read(path, as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "markdown", "code", "code"]
    assert "mean nothing" in cells[1].source and "notebooks%2Ftable2_fusion.ipynb" in cells[1].source
    assert all("hide-input" in c.metadata["tags"] for c in cells if c.cell_type == "code")
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in cells)


def test_printed_prose_is_wrapped_to_the_page_and_nothing_is_lost():
    from mcd.book import PRINT_WIDTH, wrap_printed
    long = "MCD - MLP Q+A+V, overall: " + " ".join(f"word{i}" for i in range(40)) + " papermill notebooks/x.ipynb"
    short = "profile 'default'"
    text = f"{short}\n  {long}\n"
    wrapped = wrap_printed(text)
    assert all(len(line) <= PRINT_WIDTH for line in wrapped.split("\n"))
    assert wrapped.split("\n")[0] == short and wrapped.split() == text.split()   # the same words, in order
    assert wrapped.split("\n")[2].startswith("    ")                            # continuation under its line
    path = "/a/" + "x" * 120
    assert wrap_printed(path) == path                                             # a word is never split
