"""Release rehearsal: deploy/release.sh run as root, as on an instance, against a throwaway root folder.

What is real: release.sh itself (JEWELRY_PREFIX puts /srv/jewelry, /etc/jewelry, /etc/systemd/system,
/var/log/jewelry and /run/jewelry under the throwaway folder); a bare git remote holding commits of
this work tree (A, B, a commit C that fails `check --deploy`, a commit D whose gunicorn cannot start,
a commit E whose migration fails, a commit G whose lock file carries wrong hashes for Django, a commit F
with an expand-only migration and a changed stylesheet);
the virtualenv release.sh builds (python3 -m venv, pip install --require-hashes of requirements.lock
from the wheels scripts/install.sh downloaded, offline; pip compiles them as on an instance; built once
and shared by the commits, which lock the same packages); a second instance root on the same Postgres
(its own nginx and units; it links the first one's venv folder instead of building the same venv
again) for the multi-instance order: --prepare on both at once, the switch one at a time, a rollback
serving the previous release on the new schema, checkout included; the unit files the release installs, run by
docker-systemctl-replacement's systemctl3.py (--root: Environment, EnvironmentFile, User,
WorkingDirectory, ExecStart, StandardOutput), so gunicorn starts from the released path as the
`jewelry` user; `systemd-analyze verify` on every installed unit; Debian's nginx with the shipped
site and proxy config on a free loopback port; the throwaway Postgres.

What it leaves out: socket activation (systemctl3 knows no socket units: gunicorn binds the same
socket path itself, as deploy/gunicorn.conf.py does without systemd, so a restart here drops the
requests that arrive meanwhile, which the real jewelry.socket queues); the sandboxing directives
(ProtectSystem, CapabilityBoundingSet...: only `systemd-analyze verify` reads them); timers firing
(systemctl3 enables them but does not run timers; test_maintenance.py runs the commands); the load
balancer, CloudFront and TLS in front of nginx; Secrets Manager (the secret key is in jewelry.env here).
"""

import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.deploy.conftest import PROD_HOST, REPO, database_url, pg_env, strong_secret_key
from tests.deploy.nginx_site import NGINX, get_from, nginx_site
from tests.orders.conftest import CHECKOUT_POST
from tests.servers import free_port, port_open, stop, wait_until

PGBIN = Path(os.environ.get("PGBIN") or "/usr/lib/postgresql/15/bin")
VENV = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv")
WHEELS = REPO / ".venv" / "release-wheels"
# docker-systemctl-replacement's systemctl3 (requirements-dev.txt), run as a module so its compiled
# bytecode is reused by each of the many calls (the script form recompiles 345 kB every time).
SYSTEMCTL = [str(VENV / "bin" / "python"), "-m", "systemctl2"]
SYSTEMD_ANALYZE = Path("/usr/bin/systemd-analyze")
APP_USER = "jewelry"
# What a release needs; the tests and benchmarks stay out of the copy to keep it small.
LEFT_OUT = ("tests/", "tests_sqlite/", "bench/", ".ci/")


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "rehearsal",
        "GIT_AUTHOR_EMAIL": "rehearsal@example.com",
        "GIT_COMMITTER_NAME": "rehearsal",
        "GIT_COMMITTER_EMAIL": "rehearsal@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def source_files() -> list[str]:
    """This work tree's files as they are now (tracked and new, not ignored): what the test is about."""
    listed = git("ls-files", "-co", "--exclude-standard", "-z", cwd=REPO).split("\0")
    return [name for name in listed if name and not name.startswith(LEFT_OUT) and (REPO / name).is_file()]


class Rehearsal:
    """The throwaway instance: root folder, remote, nginx port; runs release.sh and probes through nginx."""

    def __init__(self, base: Path, database: str, *, root: str = "root"):
        self.base = base
        self.root = base / root  # JEWELRY_PREFIX
        self.srv = self.root / "srv" / "jewelry"
        self.remote = base / "remote.git"
        self.work = base / "work"
        self.port = free_port()
        self.database = database
        self.origin_secret = strong_secret_key()
        self.timings: list[tuple[str, float]] = []
        self.details: list[str] = []
        self.twins: list[Rehearsal] = []
        self.nginx: subprocess.Popen | None = None

    def twin(self) -> "Rehearsal":
        """A second instance: its own root folder and nginx, the same remote and database.

        It shares the first one's virtualenv folder (srv/jewelry/venvs is a link to it), so the
        rehearsal builds the venv once; on real instances each builds its own from the same lock."""
        other = Rehearsal(self.base, self.database, root=f"root{len(self.twins) + 2}")
        other.origin_secret, other.timings, other.details = self.origin_secret, self.timings, self.details
        self.twins.append(other)
        return other

    # --- git: the commits the remote holds ---------------------------------------------------
    def make_source(self) -> None:
        self.work.mkdir()
        for name in source_files():
            target = self.work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target)
        git("init", "-q", "-b", "main", cwd=self.work)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", "A", cwd=self.work)
        git("init", "-q", "--bare", "-b", "main", str(self.remote), cwd=self.base)
        git("remote", "add", "origin", str(self.remote), cwd=self.work)

    def commit(self, message: str, path: str, text: str, *, parent: str | None = None) -> str:
        """A commit on top of ``parent`` (default: HEAD) changing one file; returns its sha."""
        if parent:
            git("checkout", "-q", "--detach", parent, cwd=self.work)
        target = self.work / path
        target.write_text(text)
        git("add", path, cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self, sha: str, branch: str) -> None:
        git("push", "-q", "--force", "origin", f"{sha}:refs/heads/{branch}", cwd=self.work)

    # --- the instance -------------------------------------------------------------------------
    def provision(self) -> None:
        """What the instance's first boot does: folders, env files, a clone of the repository."""
        etc = self.root / "etc" / "jewelry"
        etc.mkdir(parents=True)
        run = self.root / "run" / "jewelry"
        run.mkdir(parents=True)
        shutil.chown(run, APP_USER, APP_USER)
        self.srv.mkdir(parents=True)
        env = {
            "DJANGO_SETTINGS_MODULE": "jewelry_site.settings.prod",
            "DJANGO_DATABASE_URL": database_url(self.database),
            "DJANGO_SECRET_KEY": strong_secret_key(),
            "DJANGO_ALLOWED_HOSTS": PROD_HOST,
            "DJANGO_EMAIL_HOST": "smtp.invalid",  # nothing is mailed in the rehearsal
            # prod refuses the repo's placeholder bank account (issue #15); no spaces: the file is sourced.
            "DJANGO_SHOP_BANK_TRANSFER_DETAILS": "Rehearsal-Ltd-sort-code-11-22-33-account-12345678",
            "DJANGO_TRUSTED_PROXY_HOPS": "1",
            # What CloudFront adds to every request (jewelry_site/origin_verify.py); nginx passes it on.
            "DJANGO_ORIGIN_VERIFY_SECRET": self.origin_secret,
            # Without jewelry.socket (see the docstring) gunicorn binds the socket path itself.
            "GUNICORN_BIND": f"unix:{run / 'gunicorn.sock'}",
            "GUNICORN_WORKERS": "2",
        }
        (etc / "jewelry.env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        (etc / "aws.env").write_text("# no AWS key: the secret key is in jewelry.env in the rehearsal\n")
        (etc / "aws.env").chmod(0o600)
        git("clone", "-q", str(self.remote), str(self.srv / "repo"), cwd=self.base)

    def release_env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))},
            "JEWELRY_PREFIX": str(self.root),
            "JEWELRY_SYSTEMCTL": " ".join([*SYSTEMCTL, f"--root={self.root}"]),
            "JEWELRY_PIP_OPTIONS": f"--no-index --find-links={WHEELS}",
            "JEWELRY_READY_SECONDS": "20",
        }

    def release(self, *args: str) -> subprocess.CompletedProcess:
        return self.finish(self.start_release(*args), args)

    def start_release(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            ["bash", str(REPO / "deploy" / "release.sh"), *args],
            env=self.release_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, process: subprocess.Popen, args: tuple[str, ...]) -> subprocess.CompletedProcess:
        stdout, stderr = process.communicate(timeout=300)
        # release.sh's own timed lines ("release: migrate: OK (3 s)"), for the printed summary.
        name = f"{self.root.name} {' '.join(args)}"
        self.details += [f"{name}: {line}" for line in stdout.splitlines() if line.endswith(" s)")]
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """manage.py of the live release as the app user, with the instance's env file (as a timer runs it)."""
        script = f'set -a && . "{self.root}/etc/jewelry/jewelry.env" && set +a && exec "$@"'
        return subprocess.run(
            [
                "bash",
                "-c",
                script,
                "manage",
                "runuser",
                "-u",
                APP_USER,
                "--preserve-environment",
                "--",
                ".venv/bin/python",
                "manage.py",
                *args,
            ],
            cwd=self.srv / "current",
            env={k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def systemctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*SYSTEMCTL, f"--root={self.root}", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def link(self, name: str) -> str | None:
        path = self.srv / name
        return path.resolve().name if path.is_symlink() else None

    # --- nginx --------------------------------------------------------------------------------
    def nginx_config(self) -> Path:
        return nginx_site(root=self.root, port=self.port, work=self.base / f"nginx-{self.root.name}")

    def start_nginx(self) -> None:
        conf = self.nginx_config()
        checked = subprocess.run([str(NGINX), "-t", "-c", str(conf)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.nginx = subprocess.Popen(
            [str(NGINX), "-c", str(conf), "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_until(port_open(self.port), timeout=20, what="nginx", process=self.nginx)

    def get(self, path: str, *, host: str = PROD_HOST, **headers: str | None) -> requests.Response:
        sent = {"Host": host, "X-Forwarded-Proto": "https", "X-Origin-Verify": self.origin_secret, **headers}
        return requests.get(
            f"http://127.0.0.1:{self.port}{path}",
            headers={name: value for name, value in sent.items() if value is not None},
            allow_redirects=False,
            timeout=10,
        )

    def assert_serving(self, sha: str) -> None:
        """/readyz through nginx answers 200 from ``sha``, and a shop page is served."""
        ready = self.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["release"] == sha
        assert self.link("current") == sha
        home = self.get("/")
        assert home.status_code == 200, home.status_code
        assert "Maison Aurelia" in home.text

    def step(self, name: str, started: float) -> None:
        self.timings.append((name, time.monotonic() - started))


@pytest.fixture
def rehearsal():
    for tool in (NGINX, SYSTEMD_ANALYZE, PGBIN / "createdb"):
        assert tool.exists(), f"{tool} is missing: run scripts/install.sh test"
    assert importlib.util.find_spec("systemctl2"), "docker-systemctl-replacement is missing: make install-test"
    assert os.geteuid() == 0, "the rehearsal runs release.sh as root, as on an instance"
    subprocess.run(["id", APP_USER], check=True, capture_output=True)  # scripts/install.sh makes it
    assert any(WHEELS.glob("[Dd]jango-*.whl")), f"no wheels in {WHEELS}: run scripts/install.sh test"
    database = f"rehearsal_{uuid.uuid4().hex[:8]}"
    subprocess.run([str(PGBIN / "createdb"), database], check=True, env=pg_env())
    # Its own folder, not pytest's (private to root): the app user and nginx's workers must reach it.
    base = Path(tempfile.mkdtemp(prefix="jewelry-rehearsal-", dir="/tmp"))
    base.chmod(0o755)
    box = Rehearsal(base, database)
    try:
        yield box
    finally:
        for instance in [box, *box.twins]:
            if instance.nginx is not None:
                stop(instance.nginx)
            instance.systemctl("stop", "jewelry.service", "jewelry-worker.service")
        subprocess.run([str(PGBIN / "dropdb"), "--force", "--if-exists", database], env=pg_env(), check=False)
        shutil.rmtree(base)


def test_deploy_roll_back_and_refuse_broken_releases(rehearsal, capsys):
    box = rehearsal
    started = time.monotonic()
    box.make_source()
    a = git("rev-parse", "HEAD", cwd=box.work)
    b = box.commit("B", "deploy/rehearsal.txt", "B\n")
    # C: a setting `check --deploy` warns about (session cookie over plain HTTP).
    prod = (box.work / "jewelry_site/settings/prod.py").read_text()
    c = box.commit("C", "jewelry_site/settings/prod.py", prod + "\nSESSION_COOKIE_SECURE = False\n", parent=b)
    # D: passes every check but its gunicorn never starts (a broken gunicorn.conf.py).
    conf = (box.work / "deploy/gunicorn.conf.py").read_text()
    d = box.commit("D", "deploy/gunicorn.conf.py", conf + '\nraise SystemExit("rehearsal: broken start")\n', parent=b)
    # E: a migration that fails (inside its transaction, so nothing of it stays).
    latest = max(p.stem for p in (box.work / "catalog/migrations").glob("0*.py"))
    migration = (
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('catalog', '{latest}')]\n"
        "    operations = [migrations.RunSQL('SELECT 1 / 0')]\n"
    )
    e = box.commit("E", "catalog/migrations/9999_rehearsal_fails.py", migration, parent=b)
    box.push(a, "main")
    box.push(c, "broken-check")
    box.push(d, "broken-start")
    box.push(e, "broken-migration")

    # F: A plus an expand-only migration (a nullable column the code does not know yet) and a changed
    # stylesheet (a new hashed name): the next release for the two-instance and rollback rehearsal.
    expand = (
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('catalog', '{latest}')]\n"
        "    operations = [migrations.RunSQL(\n"
        "        'ALTER TABLE catalog_product ADD COLUMN rehearsal_note text NULL',\n"
        "        'ALTER TABLE catalog_product DROP COLUMN rehearsal_note',\n"
        "    )]\n"
    )
    lock = (box.work / "requirements.lock").read_text()
    tampered = re.sub(
        r"(?m)^(django==\S+ \\\n(?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
        lambda m: re.sub(r"[0-9a-f]{64}", "0" * 64, m.group(1)),
        lock,
    )
    assert tampered != lock
    g = box.commit("G", "requirements.lock", tampered, parent=b)
    box.push(g, "tampered-lock")
    box.commit("F1", "catalog/migrations/9000_rehearsal_expand.py", expand, parent=a)
    css = (box.work / "static/css/shop.css").read_text()
    f = box.commit("F", "static/css/shop.css", css + "\n/* release F */\n")
    box.push(f, "next")
    box.provision()
    box.step("remote with A, B, C, D, E, F; instance provisioned", started)

    try:
        box.start_nginx()
        run_steps(box, a=a, b=b, c=c, d=d, e=e)
        run_two_instances(box, a=a, f=f)
    finally:
        with capsys.disabled():
            print("\nrelease rehearsal (seconds):")
            for name, seconds in box.timings:
                print(f"  {seconds:6.1f}  {name}")
            print(f"  {time.monotonic() - started:6.1f}  total")
            print("release.sh's own figures:")
            for line in box.details:
                print(f"  {line}")


def run_steps(box: Rehearsal, *, a: str, b: str, c: str, d: str, e: str) -> None:
    # 1. Deploy A: the remote's main.
    started = time.monotonic()
    result = box.release("main")
    assert result.returncode == 0, result.stdout + result.stderr
    box.assert_serving(a)
    assert box.link("previous") is None
    box.step("deploy A (venv built, first migrate)", started)
    assert_released_venv(box, a)
    started = time.monotonic()
    verify_units(box)
    box.step("systemd-analyze verify on every unit", started)

    # The origin secret crosses nginx unchanged and the app checks it: without it, or wrong, 403.
    assert box.get("/", **{"X-Origin-Verify": None}).status_code == 403
    assert box.get("/", **{"X-Origin-Verify": box.origin_secret + "x"}).status_code == 403
    assert box.get("/readyz", **{"X-Origin-Verify": None}).status_code == 200  # probes carry no secret
    # /readyz (commit, database) only to the instance itself; the balancer's address gets 403, /healthz 200.
    assert get_from("127.0.0.2", box.port, "/readyz", host=PROD_HOST)[0] == 403
    assert get_from("127.0.0.2", box.port, "/healthz", host="172.26.9.10")[0] == 200

    # Maintenance: the flag file stops all traffic but the probes, at once and without a reload.
    started = time.monotonic()
    flag = box.srv / "MAINTENANCE"
    flag.touch()
    try:
        closed = box.get("/")
        assert closed.status_code == 503
        assert "back shortly" in closed.text
        assert closed.headers["Retry-After"] == "600"
        assert closed.headers["Cache-Control"] == "no-store"
        assert box.get("/cart/").status_code == 503
        assert box.get("/readyz").status_code == 200
        assert box.get("/healthz").status_code == 200
        assert box.get("/readyz", host="172.26.9.10").status_code == 200  # the balancer's probe by IP
    finally:
        flag.unlink()
    assert box.get("/").status_code == 200
    box.step("maintenance on and off through nginx", started)

    # 2. Deploy B: the remote's main moved; the clone's local main did not, and must not be used.
    box.push(b, "main")
    started = time.monotonic()
    result = box.release("main")
    assert result.returncode == 0, result.stdout + result.stderr
    box.assert_serving(b)
    assert box.link("previous") == a
    assert git("rev-parse", "main", cwd=box.srv / "repo") == a  # the clone's own branch: stale, unused
    box.step("deploy B (remote's main moved)", started)

    # 3. D passes the checks but never becomes ready: switched back to B by itself; previous stays A.
    started = time.monotonic()
    result = box.release("broken-start")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{d} refused: it did not become ready" in result.stderr
    box.assert_serving(b)
    assert box.link("previous") == a
    box.step("refuse D (not ready: automatic switch back)", started)

    # 4. Roll back to A; no pointer names the release left behind.
    started = time.monotonic()
    result = box.release("--rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    box.assert_serving(a)
    assert box.link("previous") is None
    again = box.release("--rollback")
    assert again.returncode == 1
    assert "no previous release" in again.stderr
    box.step("roll back to A", started)

    # deploy/check-live.sh (run before a restart after a secret or database change) passes on A.
    started = time.monotonic()
    live = subprocess.run(
        ["bash", str(REPO / "deploy" / "check-live.sh")],
        env=box.release_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert live.returncode == 0, live.stdout + live.stderr
    assert f"check-live: OK ({a}" in live.stdout
    box.step("check-live.sh on A", started)

    # 5. C fails `check --deploy`: refused before anything changes, A keeps serving untouched.
    unit_before = (box.root / "etc/systemd/system/jewelry.service").read_text()
    started = time.monotonic()
    result = box.release("broken-check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "security.W012" in result.stdout + result.stderr
    assert f"check --deploy failed: {c} refused, live release untouched" in result.stderr
    box.assert_serving(a)
    assert box.link("previous") is None
    assert (box.root / "etc/systemd/system/jewelry.service").read_text() == unit_before
    box.step("refuse C (check --deploy)", started)

    # 6. E's migration fails: refused, A keeps serving, no trace of E's migration in the database.
    started = time.monotonic()
    result = box.release("broken-migration")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "division by zero" in result.stdout + result.stderr
    assert f"migrate failed: {e} refused, live release untouched" in result.stderr
    box.assert_serving(a)
    recorded = subprocess.run(
        [
            str(PGBIN / "psql"),
            "-X",
            "-At",
            "-d",
            box.database,
            "-c",
            "SELECT count(*) FROM django_migrations WHERE name = '9999_rehearsal_fails'",
        ],
        env=pg_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert recorded.stdout.strip() == "0"
    box.step("refuse E (failing migration)", started)

    # G: a lock whose hashes for Django are not Django's wheel (a tampered or swapped package): pip
    # refuses it while building the venv, and A keeps serving.
    started = time.monotonic()
    result = box.release("tampered-lock")
    assert result.returncode != 0, result.stdout + result.stderr
    assert "DO NOT MATCH THE HASHES" in result.stdout + result.stderr
    box.assert_serving(a)
    box.step("refuse G (a hash in the lock does not match)", started)

    # A second release.sh while one runs (here: while its lock is held) refuses and changes nothing.
    with (box.srv / ".release.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        blocked = box.release("main")
    assert blocked.returncode == 1
    assert "another release.sh is running" in blocked.stderr
    box.assert_serving(a)

    # A name that is neither a branch, a tag nor a commit changes nothing either.
    unknown = box.release("no-such-branch")
    assert unknown.returncode == 1
    assert "nothing changed" in unknown.stderr
    box.assert_serving(a)


def assert_released_venv(box: Rehearsal, sha: str) -> None:
    """gunicorn's shebang names the python of a venv that stays where it was built."""
    gunicorn = box.srv / "current" / ".venv" / "bin" / "gunicorn"
    shebang = gunicorn.read_text().splitlines()[0]
    interpreter = Path(shebang.removeprefix("#!"))
    assert interpreter.is_file(), shebang
    assert interpreter.parent.parent == (box.srv / "releases" / sha / ".venv").resolve()
    assert interpreter.is_relative_to(box.srv / "venvs")
    # Built from the release's hashed lock (the venv's name is the hash of the lock and the Python).
    python = subprocess.run(["/usr/bin/python3", "-VV"], capture_output=True, check=True).stdout
    lock = (box.srv / "releases" / sha / "requirements.lock").read_bytes()
    assert interpreter.parent.parent.name == hashlib.sha256(lock + python).hexdigest()[:16]
    # Root owns the code and the venv: the app user can run them but not change them.
    assert (box.srv / "releases" / sha / "manage.py").stat().st_uid == 0
    assert interpreter.parent.stat().st_uid == 0
    assert (box.srv / "releases" / sha / "staticfiles").owner() == APP_USER


def verify_units(box: Rehearsal) -> None:
    """`systemd-analyze verify` on every unit release.sh installed (the paths exist now)."""
    unit_dir = box.root / "etc" / "systemd" / "system"
    units = sorted(p for p in unit_dir.iterdir() if p.suffix in {".service", ".socket", ".timer"})
    shipped = sorted(p.name for p in (REPO / "deploy").iterdir() if p.suffix in {".service", ".socket", ".timer"})
    assert [p.name for p in units] == shipped
    result = subprocess.run(
        [str(SYSTEMD_ANALYZE), "verify", *map(str, units)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # unknown keys and bad values are only warned about
    for service in ("jewelry.service", "jewelry-worker.service"):  # release.sh (re)starts the e-mail worker too
        status = box.systemctl("status", service)
        assert "active (running)" in status.stdout, status.stdout + status.stderr
    assert json.loads(box.get("/readyz").text)["status"] == "ok"


STYLESHEET = re.compile(r'href="(/static/css/shop\.[0-9a-f]{12}\.css)"')
SEED = """
from catalog.models import Category, Product, ProductVariant
category = Category.objects.create(name="Rings", slug="rehearsal-rings")
product = Product.objects.create(name="Rehearsal ring", slug="rehearsal-ring", category=category, metal="silver")
variant = ProductVariant.objects.create(product=product, sku="REH-1", metal="silver", price="120.00", stock=5)
print("seeded", variant.pk, product.get_absolute_url())
"""


def stylesheet(box: Rehearsal) -> str:
    """The hashed stylesheet the home page served by ``box`` links to."""
    home = box.get("/")
    assert home.status_code == 200, home.status_code
    (path,) = set(STYLESHEET.findall(home.text))
    return path


def checkout(box: Rehearsal, *, variant: int, product_url: str) -> None:
    """A shopper through nginx: product page, add to the bag, checkout by bank transfer, confirmation."""
    cookies: dict[str, str] = {}

    def send(method: str, path: str, data: dict | None = None) -> requests.Response:
        headers = {
            "Host": PROD_HOST,
            "X-Forwarded-Proto": "https",
            "X-Origin-Verify": box.origin_secret,
            "Origin": f"https://{PROD_HOST}",
            "Referer": f"https://{PROD_HOST}{path}",
            # Secure cookies, kept by hand: nginx is plain HTTP here, as behind the load balancer.
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        }
        if data is not None:
            data = {**data, "csrfmiddlewaretoken": cookies.get("__Host-csrftoken", "")}
        response = requests.request(
            method, f"http://127.0.0.1:{box.port}{path}", data=data, headers=headers, allow_redirects=False, timeout=30
        )
        cookies.update(response.cookies.get_dict())
        return response

    assert send("GET", product_url).status_code == 200
    added = send("POST", "/cart/add/", {"variant": variant, "quantity": 1})
    assert added.status_code == 302, added.text[:500]
    page = send("GET", "/checkout/")
    assert page.status_code == 200, page.status_code
    hidden = dict(re.findall(r'name="(checkout_token|expected_goods_total)" value="([^"]*)"', page.text))
    placed = send("POST", "/checkout/", {**CHECKOUT_POST, **hidden, "email": "rollback@example.com"})
    assert placed.status_code == 302, (placed.status_code, placed.text[:500])
    assert "/checkout/confirmation/" in placed.headers["Location"]
    assert send("GET", placed.headers["Location"]).status_code == 200


def run_two_instances(box: Rehearsal, *, a: str, f: str) -> None:
    """deploy/runbooks/deploy-and-rollback.md, "Two or three instances", on two instance roots sharing
    one Postgres: --prepare F everywhere at once (one migrates under the advisory lock, the other finds
    nothing to do), then the switch one instance at a time, with the static files of both releases
    reachable on both instances meanwhile; then a rollback serves A on F's schema, checkout included."""
    started = time.monotonic()
    second = box.twin()
    second.provision()
    (second.srv / "venvs").symlink_to(box.srv / "venvs")
    second.start_nginx()
    result = second.release(a)
    assert result.returncode == 0, result.stdout + result.stderr
    second.assert_serving(a)
    box.assert_serving(a)
    old_css = stylesheet(box)
    box.step("second instance on A (same database)", started)

    # 1. Prepare F on both at once: code and static everywhere, one migration run, nothing switched.
    started = time.monotonic()
    running = [(instance, instance.start_release("--prepare", f)) for instance in (box, second)]
    results = [instance.finish(process, ("--prepare", f)) for instance, process in running]
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"prepared {f}" in result.stdout
    applied = [r for r in results if "Applying catalog.9000_rehearsal_expand... OK" in r.stdout]
    assert len(applied) == 1, [r.stdout for r in results]
    assert any("No migrations to apply" in r.stdout for r in results if r not in applied)
    box.assert_serving(a)
    second.assert_serving(a)
    box.step("--prepare F on both instances at once (one migrates)", started)

    # 2. Switch one instance: the mixed window. Each release's page finds its stylesheet on both.
    started = time.monotonic()
    result = box.release(f)
    assert result.returncode == 0, result.stdout + result.stderr
    box.assert_serving(f)
    second.assert_serving(a)
    new_css = stylesheet(box)
    assert new_css != old_css
    for instance in (box, second):
        for path in (old_css, new_css):
            served = instance.get(path)
            assert served.status_code == 200, (instance.root.name, path, served.status_code)
            assert "immutable" in served.headers["Cache-Control"]
    box.step("switch instance 1 to F (mixed window: static of both)", started)

    started = time.monotonic()
    result = second.release(f)
    assert result.returncode == 0, result.stdout + result.stderr
    second.assert_serving(f)
    box.step("switch instance 2 to F", started)

    # 3. Roll instance 1 back: A runs on F's schema (readyz, a page, a checkout).
    started = time.monotonic()
    result = box.release("--rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    box.assert_serving(a)
    seeded = box.manage("shell", "-c", SEED)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    found = re.search(r"^seeded (\d+) (\S+)$", seeded.stdout, re.MULTILINE)
    assert found, seeded.stdout + seeded.stderr
    checkout(box, variant=int(found[1]), product_url=found[2])
    assert box.get(old_css).status_code == 200
    box.step("roll back instance 1: A on F's schema, checkout", started)
