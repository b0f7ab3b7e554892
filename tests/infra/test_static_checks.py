"""terraform fmt and checkov over infra/terraform.

The binaries come from ``LOGO_ANN_TERRAFORM`` / ``LOGO_ANN_CHECKOV``, else ``.venv-checkov/bin/``
(``make checkov-venv``), else ``PATH``; each test skips, saying so, when its tool is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.hcl import REPO_ROOT, TERRAFORM_DIR

CHECKOV_CONFIG = TERRAFORM_DIR / ".checkov.yaml"
MAX_SKIPS = 8


def _tool(name: str, variable: str) -> str | None:
    explicit = os.environ.get(variable)
    if explicit:
        return shutil.which(explicit)  # None (the test skips) if it is not an executable
    local = REPO_ROOT / ".venv-checkov" / "bin" / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def _checkov(target: Path) -> subprocess.CompletedProcess[str]:
    checkov = _tool("checkov", "LOGO_ANN_CHECKOV")
    if checkov is None:
        pytest.skip("checkov not found: run `make checkov-venv` or set LOGO_ANN_CHECKOV")
    command = [checkov, "-d", str(target), "--framework", "terraform", "--skip-download", "--compact", "--quiet"]
    return _run([*command, "--config-file", str(CHECKOV_CONFIG)], timeout=300)


def test_terraform_fmt() -> None:
    terraform = _tool("terraform", "LOGO_ANN_TERRAFORM")
    if terraform is None:
        pytest.skip("terraform not found: run `make checkov-venv` or set LOGO_ANN_TERRAFORM")
    result = _run([terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)], timeout=120)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_checkov_passes_with_the_skip_list() -> None:
    result = _checkov(TERRAFORM_DIR)
    assert result.returncode == 0, f"checkov failed:\n{result.stdout}{result.stderr}"


def test_checkov_config_catches_a_public_bucket(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "google_storage_bucket" "open" {\n'
        '  name                        = "open"\n'
        '  location                    = "EU"\n'
        "  uniform_bucket_level_access = false\n"
        "}\n"
    )
    result = _checkov(tmp_path)
    assert result.returncode != 0
    assert "CKV_GCP_29" in result.stdout  # uniform bucket-level access


def test_every_skip_says_why() -> None:
    lines = CHECKOV_CONFIG.read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.match(r"^\s*-\s*CKV2?_\w+", line)]
    assert 0 < len(skips) <= MAX_SKIPS, f"{len(skips)} skips: keep the list short"
    for index in skips:
        above = lines[index - 1].strip()
        assert above.startswith("#") and len(above) > 10, f"skip {lines[index].strip()} has no reason above it"
