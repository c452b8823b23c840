"""gunicorn's error and access logs as the same JSON lines as the app (deploy/gunicorn.conf.py).

Health probes are left out of the access log unless they fail; everything is redacted by
``JsonFormatter`` (tokens in old links' paths included: ``jewelry_site.logs.TOKEN_PATHS``). Only the
path is logged, never the query string (it carries OIDC codes and our links' tokens). The request id
is the app's own (the response's X-Request-ID), the address the one ``client_address`` trusts.
"""

import logging

from gunicorn.glogging import Logger

from jewelry_site.client_address import client_ip_from_environ
from jewelry_site.logs import HEALTH_PATHS, JsonFormatter


class JsonLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp, req, environ, request_time) -> None:
        if not getattr(self, "access_log_enabled", True):
            return
        status = resp.status
        status = int(str(status).split(None, 1)[0]) if status else 0
        path = environ.get("PATH_INFO", "")
        if path in HEALTH_PATHS and status < 500:
            return
        headers = {name.lower(): value for name, value in (resp.headers or [])}
        sent = getattr(resp, "sent", None)
        self.access_log.log(
            logging.INFO,
            "%s %s %s",
            environ.get("REQUEST_METHOD"),
            path,
            status,
            extra={
                "method": environ.get("REQUEST_METHOD"),
                "path": path,
                "status": status,
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "bytes": sent,
                "request_id": headers.get("x-request-id"),
                # The app's own rule (trusted X-Forwarded-For hops, else the peer): never a header the
                # client may set itself, such as X-Real-IP, which our proxies neither set nor clear.
                "remote_addr": client_ip_from_environ(environ),
                "user_agent": (environ.get("HTTP_USER_AGENT") or "")[:200] or None,
            },
        )
