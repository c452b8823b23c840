"""deploy/logrotate.conf run by the real logrotate, as an instance runs it.

bootstrap-instance.sh installs the file as /etc/logrotate.d/jewelry beside Debian's /etc/logrotate.conf
(whose defaults, weekly and rotate 4, ours must override). Here logrotate reads this machine's Debian
/etc/logrotate.conf with its include pointed at a throwaway folder holding our file, in which only the
log folder is rewritten; the log folder is made as bootstrap makes /var/log/jewelry (0750,
jewelry:jewelry), the state file is a throwaway one. The services write app.log through systemd's
``StandardOutput=append:``, i.e. one file descriptor opened with O_APPEND and never reopened: the test
holds such a descriptor across the rotation. The config has no postrotate action (copytruncate needs no
signal). Not covered: what triggers logrotate on the instance (Debian's logrotate.timer, daily) and the
CloudWatch agent following app.log through the truncation.
"""

import datetime
import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO

LOGROTATE = "/usr/sbin/logrotate"  # scripts/install.sh test installs it; missing, the test fails


class Box:
    """A throwaway root: the log folder, our config under a copy of Debian's main config, a state file."""

    def __init__(self, tmp: Path) -> None:
        self.logs = tmp / "var/log/jewelry"
        self.logs.mkdir(parents=True)
        self.logs.chmod(0o750)
        shutil.chown(self.logs, "jewelry", "jewelry")  # scripts/install.sh test makes the user
        included = tmp / "logrotate.d"
        included.mkdir()
        shipped = (REPO / "deploy/logrotate.conf").read_text()
        ours = shipped.replace("/var/log/jewelry/", f"{self.logs}/")
        assert ours != shipped
        (included / "jewelry").write_text(ours)
        debian = Path("/etc/logrotate.conf").read_text()
        assert "include /etc/logrotate.d\n" in debian
        self.conf = tmp / "logrotate.conf"
        self.conf.write_text(debian.replace("include /etc/logrotate.d\n", f"include {included}\n"))
        self.state = tmp / "logrotate.state"
        self.log = self.logs / "app.log"

    def run(self, *, force: bool) -> None:
        args = [LOGROTATE, "--verbose", "--state", str(self.state), *(["--force"] if force else []), str(self.conf)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "error" not in result.stderr.lower(), result.stderr

    def write(self, *lines: str) -> None:
        with self.log.open("a") as handle:
            handle.writelines(line + "\n" for line in lines)

    def names(self) -> set[str]:
        return {path.name for path in self.logs.iterdir()}


@pytest.fixture
def box(tmp_path):
    assert Path(LOGROTATE).is_file(), "logrotate is missing: scripts/install.sh test installs it"
    assert os.geteuid() == 0, "logrotate runs as root on an instance, in a folder the app user owns"
    return Box(tmp_path)


def lines_of(path: Path) -> list[str]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode().splitlines()


def test_seven_rotations_are_kept_the_newest_plain_the_older_compressed(box):
    for day in range(1, 10):
        box.write(*(f'{{"day": {day}, "line": {n}}}' for n in range(50)))
        box.run(force=True)
    # rotate 7: days 1 and 2 are gone; delaycompress leaves the newest rotation readable as it is.
    assert box.names() == {"app.log", "app.log.1", *(f"app.log.{n}.gz" for n in range(2, 8))}
    assert box.log.stat().st_size == 0
    for n in range(1, 8):
        path = box.logs / ("app.log.1" if n == 1 else f"app.log.{n}.gz")
        day = 10 - n
        assert lines_of(path) == [f'{{"day": {day}, "line": {i}}}' for i in range(50)], path.name
    with (box.logs / "app.log.2.gz").open("rb") as handle:
        assert handle.read(2) == b"\x1f\x8b"  # gzip, not merely named .gz


def test_a_writer_holding_the_file_open_keeps_writing_to_the_live_log(box):
    """copytruncate: the service is not restarted; its O_APPEND descriptor writes at the new end, so
    app.log holds only what came after the rotation, with no hole of NUL bytes before it."""
    with box.log.open("ab", buffering=0) as service:  # as systemd's StandardOutput=append: opens it
        inode = os.fstat(service.fileno()).st_ino
        service.write(b'{"before": "rotation"}\n')
        box.run(force=True)
        service.write(b'{"after": "rotation"}\n')
    assert box.log.stat().st_ino == inode
    assert box.log.read_bytes() == b'{"after": "rotation"}\n'
    assert lines_of(box.logs / "app.log.1") == ['{"before": "rotation"}']


def test_an_empty_log_is_not_rotated_and_a_missing_one_is_no_error(box):
    box.run(force=True)  # missingok: no app.log yet (a fresh instance before the first release)
    assert box.names() == set()
    box.write("one line")
    box.run(force=True)
    assert box.names() == {"app.log", "app.log.1"}
    box.run(force=True)  # notifempty: the truncated app.log stays, no empty rotation pushes day 1 out
    assert box.names() == {"app.log", "app.log.1"}
    assert lines_of(box.logs / "app.log.1") == ["one line"]


def test_rotation_is_daily_not_debians_weekly_default(box):
    """Unforced, as the daily timer runs it: a log first seen is left alone; one last rotated two days
    ago is rotated (Debian's global ``weekly`` would wait a week)."""
    box.write("day one")
    box.run(force=False)
    assert box.names() == {"app.log"}
    state = box.state.read_text()
    two_days_ago = datetime.datetime.now() - datetime.timedelta(days=2)
    stamp = f"{two_days_ago.year}-{two_days_ago.month}-{two_days_ago.day}-{two_days_ago.hour}:0:0"
    entry = re.compile(rf'^("{re.escape(str(box.log))}") \S+$', re.MULTILINE)
    assert entry.search(state), state
    box.state.write_text(entry.sub(rf"\1 {stamp}", state))
    box.run(force=False)
    assert box.names() == {"app.log", "app.log.1"}
    assert lines_of(box.logs / "app.log.1") == ["day one"]
