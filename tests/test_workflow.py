"""The publishing workflow cannot run here; these tests check that it parses, deploys to GitHub Pages with the
permissions that needs, and builds the book with the same script the README's main command and CI use."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "book.yml"


def _load() -> dict:
    wf = yaml.safe_load(WORKFLOW.read_text())
    wf["on"] = wf.pop(True, wf.get("on"))   # YAML 1.1 reads the key `on` as True
    return wf


def _readme_commands() -> list[str]:
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_workflow_parses_and_deploys_to_pages_on_push_to_main():
    wf = _load()
    assert wf["on"]["push"]["branches"] == ["main"]
    assert {"pages": "write", "id-token": "write"}.items() <= wf["permissions"].items()
    steps = [s for job in wf["jobs"].values() for s in job.get("steps", [])]
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert "actions/upload-pages-artifact" in uses and "actions/deploy-pages" in uses
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    deploy_job = next(j for j in wf["jobs"].values() if any(s.get("uses", "").startswith("actions/deploy-pages")
                                                          for s in j["steps"]))
    assert deploy_job["needs"] == "build" and deploy_job["environment"]["name"] == "github-pages"


def test_workflow_builds_with_the_readme_main_command_and_the_ci_install():
    runs = [s["run"].strip() for job in _load()["jobs"].values() for s in job.get("steps", []) if "run" in s]
    main, test = _readme_commands()
    assert main == "bash scripts/study.sh" and main in runs
    assert test == "bash scripts/test.sh"
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()      # CI runs the README's test command
    for script in ("study.sh", "test.sh"):                                     # both install the same way
        assert "bash scripts/setup.sh" in (REPO / "scripts" / script).read_text()
