"""gunicorn settings for production (used by deploy/jewelry.service; tests start it the same way).

    gunicorn -c deploy/gunicorn.conf.py

Every value can be overridden by a GUNICORN_* environment variable (see deploy/README.md).
Signals: HUP = re-read this file and replace the workers gracefully (code and secrets are NOT
re-read, the app is preloaded); a code or secret change needs `systemctl restart jewelry`, which
the socket unit makes seamless (connections wait in the socket's queue for the new master).
"""

import gc
import multiprocessing
import os

wsgi_app = "jewelry_site.wsgi:application"

# systemd socket activation (deploy/jewelry.socket) hands gunicorn the socket and this is ignored.
bind = os.environ.get("GUNICORN_BIND", "unix:/run/jewelry/gunicorn.sock").split(",")

# Sync workers: the views are short and database-bound. 2 x CPUs + 1 is gunicorn's rule of thumb.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# A request that runs past this is killed (logged as WORKER TIMEOUT, alarmed in CloudWatch).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# On HUP or TERM, workers finish their current request within this many seconds.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
# Recycle workers now and then so a slow leak never becomes an outage. A fresh worker's first
# requests are slow (~60 ms: new connection, empty fragment cache, copy-on-write faults), so the
# jitter is wide (half the limit): with a narrow one, equally loaded workers were replaced within a
# second of each other and every connection waited at once (bench/README.md).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 2))

# Load Django (and so fetch the secrets from Secrets Manager) once in the master; workers fork it.
preload_app = True

# Requests arrive from nginx on this machine; trust its X-Forwarded-* only from there.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Tighter than the defaults: nothing legitimate sends longer request lines or more headers.
limit_request_line = 4094
limit_request_fields = 60
# Worker heartbeat files on tmpfs (a slow disk must not look like a hung worker).
_SHM = "/dev/shm"  # noqa: S108 - gunicorn's documented choice; files are private to the worker
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", _SHM if os.path.isdir(_SHM) else None)

# JSON lines on stdout (access) and stderr (gunicorn's own messages), same shape as the app's.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logger_class = "jewelry_site.gunicorn_logging.JsonLogger"
proc_name = "jewelry"
# systemd sends the signals (reload = HUP, restart); no second control channel to secure.
control_socket_disable = True


def when_ready(server):
    """Runs in the master after the preload, before workers fork: no shared DB socket may be inherited."""
    from django.db import connections

    from jewelry_site.warmup import warm_up

    server.log.info("warmed up: %d templates compiled before the fork", warm_up())
    connections.close_all()
    # Everything loaded so far (Django, the app, its modules) lives as long as the process. Freezing
    # it before the fork keeps it out of every later collection in the workers: a full collection
    # then walks only what the worker made itself (measured in bench/README.md), and the shared
    # pages are not written to by the collector, so they stay shared copy-on-write.
    gc.freeze()
