"""Running a runtime app: in the foreground (the CLI) or in a background thread (tests, online).

:class:`BackgroundServer` starts uvicorn on a thread, waits (bounded) until it listens, exposes
its ``base_url`` (``http://127.0.0.1:<port>/v1``; port ``0`` picks a free one) and always shuts
it down on exit. This module knows nothing of what the app serves.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from agent_rl.errors import ConfigError

__all__ = ["BackgroundServer", "run_foreground"]


def _own_headers(app: Any) -> dict[str, bool]:
    """uvicorn adds ``server`` and ``date`` headers; an app that relays an upstream's headers
    (``app.state.relays_headers``) must not get a second copy."""
    relays = bool(getattr(getattr(app, "state", None), "relays_headers", False))
    return {"server_header": not relays, "date_header": not relays}


def run_foreground(app: Any, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (Ctrl-C / SIGTERM shut it down cleanly)."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, **_own_headers(app))


class BackgroundServer:
    """``with BackgroundServer(app) as srv: srv.base_url`` — uvicorn on a daemon thread."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, *, start_timeout: float = 20.0
    ) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="on", **_own_headers(app)
        )
        self.server = uvicorn.Server(config)
        self.host, self.start_timeout = host, start_timeout
        self.port: int | None = None
        self._thread = threading.Thread(target=self.server.run, name="agent-rl-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(
                    f"the server did not start on {self.host} within {self.start_timeout:g}s "
                    "(is the port free?)"
                )
            time.sleep(0.01)
        sockets = [s for srv in self.server.servers for s in srv.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
