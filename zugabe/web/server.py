"""``zugabe serve``: the app under gunicorn, a pre-fork WSGI server, with N worker processes.

Every worker is a process of its own with a few threads (gunicorn's ``gthread`` workers,
balanced between each other: ``zugabe.web.worker``), built by the same app factory after
the fork: its own store connections, its own detection index warmed up beside serving, its
own mail delivery thread. Nothing lives in one worker only (the loads the workers balance
by are a hint, lost with no harm): the index catches up with the others' writes from the
store's change log, jobs and their progress are in the store, the outbox is claimed with a
lease (two workers never send the same mail). ``SIGTERM`` (or Ctrl-C) stops gracefully: the
workers stop accepting, and requests under way (and a running job, within
``GRACEFUL_TIMEOUT``) finish first.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.base import Worker

from zugabe.errors import ConfigError
from zugabe.services import Services
from zugabe.services.mail import MAIL_INTERVAL
from zugabe.web.worker import RebalancingWorker, WorkerLoads

GRACEFUL_TIMEOUT = 60
"""Seconds a stopping worker waits for its requests and its running job to finish."""

IDLE_CONNECTION_SECONDS = 2
"""Seconds a kept-alive connection may idle before a worker closes it (gunicorn's default);
nginx in front closes its idle connections sooner (``keepalive_timeout`` of the upstream in
``deploy/nginx/zugabe.conf``), or a request it sends as the worker closes one fails."""


class Server(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's documented way to embed it ("custom application"): options from us, the
    app from ``create_app`` in each worker."""

    def __init__(
        self, overrides: Mapping[str, Any], host: str, port: int, workers: int, threads: int
    ):
        self.overrides = overrides
        loads = WorkerLoads()  # before the fork: shared by the arbiter's children
        self.options = {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "worker_class": RebalancingWorker,
            "threads": threads,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "keepalive": IDLE_CONNECTION_SECONDS,
            "proc_name": "zugabe",
            # The app unwraps trusted proxies itself (setting proxy_hops, ProxyFix): one
            # place decides, so gunicorn trusts no forwarded header.
            "forwarded_allow_ips": "",
            # Its control socket would sit in the home folder, one for every instance of the
            # account; operators steer with signals (systemd: reload sends HUP).
            "control_socket_disable": True,
            "worker_exit": _close_worker,
            "pre_fork": loads.assign,
            "child_exit": loads.release,
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        """Run in each worker after the fork: nothing of the parent's store is shared."""
        from zugabe.web import create_app

        app = create_app(self.overrides)
        start_background(app.extensions["zugabe"])
        return app


def start_background(services: Services) -> None:
    """The work a serving process does beside requests: warm up (``Services.warm_up``: the
    detection index and the rendered features, seconds with a big store, so the first save
    and the first map views do not wait for them), deliver mail."""
    threading.Thread(target=services.warm_up, name="warm-up", daemon=True).start()
    if services.mail.enabled:
        services.mail.start_background(MAIL_INTERVAL, [services.notifications.send_digests])


def _close_worker(_arbiter: Any, worker: Worker) -> None:
    """gunicorn's ``worker_exit`` hook: the mails being sent are recorded, a running job
    finishes (or the arbiter ends it after ``GRACEFUL_TIMEOUT``: its work rolls back)."""
    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask):
        app.extensions["zugabe"].close()


def check_address(host: str, port: int) -> None:
    """Fail at start with one line when the address cannot be listened on (gunicorn would
    retry for seconds and then log a traceback-like error)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
