"""The app under waitress in a thread of this process, started and stopped at will.

``zugabe serve`` runs waitress in the foreground until Ctrl-C; the browser tests and the
benchmarks need a real HTTP server beside their own code instead, on a free port, and a
clean stop between tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import waitress
from flask import Flask
from waitress import wasyncore


@dataclass
class BackgroundServer:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    server: Any  # waitress' server classes have no type hints
    sockets: dict[int, Any]  # the server loop's socket map: it runs while this is not empty
    thread: threading.Thread

    @classmethod
    def start(cls, app: Flask, threads: int = 4, port: int = 0) -> BackgroundServer:
        """Serve ``app`` on a loopback port (0: a free one), in a daemon thread."""
        sockets: dict[int, Any] = {}
        server = waitress.create_server(
            app, map=sockets, host="127.0.0.1", port=port, threads=threads, ident=""
        )
        thread = threading.Thread(target=server.run, name="zugabe-background", daemon=True)
        thread.start()
        return cls(f"http://127.0.0.1:{server.effective_port}", server, sockets, thread)

    def stop(self, timeout: float = 10) -> bool:
        """Stop the server and its worker threads; False if its loop did not end in time.

        The loop runs while its socket map is not empty, waking only every second: a thunk
        run by the loop itself (through its trigger) empties the map so the loop returns at
        once, and the sockets are closed here afterwards (closing the trigger inside its own
        thunk would deadlock).
        """
        detached: dict[int, Any] = {}

        def detach() -> None:
            detached.update(self.sockets)
            self.sockets.clear()

        self.server.trigger.pull_trigger(detach)
        self.thread.join(timeout=timeout)
        stopped = not self.thread.is_alive()
        wasyncore.close_all(detached)
        self.server.task_dispatcher.shutdown()
        return stopped
