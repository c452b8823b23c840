"""The hashed lock files (issue #22): requirements.lock (runtime) and requirements-dev.lock (tests, tools).

`make lock` (uv pip compile --generate-hashes) writes them from requirements*.txt; scripts/install.sh
and deploy/release.sh install from them with --require-hashes (runtime: binary wheels only), and the
release rehearsal builds its virtualenv from requirements.lock. These checks read the files only
(no registry): a pin added to requirements*.txt without `make lock` fails here, as does a lock
entry without a hash. Whether pip accepts the hashes is proved by the installs themselves.
"""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.conftest import REPO


def top_level_pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line, following `-r other.txt`."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins |= top_level_pins(path.parent / line[3:].strip())
        elif line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{path.name}: {line} is not pinned exactly"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of each entry of a lock file (entries span backslash-continued lines)."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = re.sub(r"\s*\\\n\s*", " ", path.read_text())
    for line in text.splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        requirement_part, *hashes = line.split(" --hash=")
        requirement = Requirement(requirement_part.strip())
        (spec,) = requirement.specifier
        entries[canonicalize_name(requirement.name)] = (spec.version, [h.strip() for h in hashes])
    return entries


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_every_pin_is_locked_at_its_version_with_hashes(requirements, lock):
    lock_path = REPO / lock
    assert lock_path.is_file(), f"{lock} is missing: run `make lock`"
    entries = locked(lock_path)
    for name, version in top_level_pins(REPO / requirements).items():
        assert name in entries, f"{name} is in {requirements} but not in {lock}: run `make lock`"
        assert entries[name][0] == version, f"{name}: {requirements} pins {version}, {lock} {entries[name][0]}"
    for name, (_version, hashes) in entries.items():
        assert hashes, f"{name} has no hash in {lock}"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name
    # Transitive packages are locked too, not only the top-level pins.
    assert len(entries) > len(top_level_pins(REPO / requirements))


def test_the_dev_lock_runs_the_runtime_versions():
    """Tests run what production runs: every runtime entry is in the dev lock at the same version."""
    runtime = locked(REPO / "requirements.lock")
    dev = locked(REPO / "requirements-dev.lock")
    assert {name: dev.get(name, ("missing",))[0] for name in runtime} == {n: v for n, (v, _h) in runtime.items()}


def test_a_pin_missing_from_the_lock_is_reported(tmp_path):
    """Negative control: requirements.txt with a pin the lock lacks fails the first check."""
    pins = (REPO / "requirements.txt").read_text() + "django-not-in-the-lock==1.0\n"
    (tmp_path / "requirements.txt").write_text(pins)
    entries = locked(REPO / "requirements.lock")
    missing = [name for name in top_level_pins(tmp_path / "requirements.txt") if name not in entries]
    assert missing == ["django-not-in-the-lock"]
