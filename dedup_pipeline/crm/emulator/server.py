"""Serve emulated CRMs over real HTTP on localhost, each in a background thread (tests,
``dedup crm-emulator``, ``dedup crm-demo``)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from dedup_pipeline.crm.emulator.app import CrmEmulator

__all__ = ["EmulatorServer"]


class EmulatorServer:
    """One emulated CRM listening on ``host:port`` (port 0 picks a free one).

    Use it as a context manager in tests::

        with EmulatorServer(Bitrix24Emulator(state)) as server:
            connector = Bitrix24Connector(server.url + "/rest/1", ...)
    """

    def __init__(self, emulator: CrmEmulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            emulator.asgi(), log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``, the root the CRM's paths hang from."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Start serving in a daemon thread; return once it accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the {self.emulator.kind} emulator did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
