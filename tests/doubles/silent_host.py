"""A host that never answers: a TCP listener on 127.0.0.1 that accepts every connection and
then says nothing (no TLS handshake, no HTTP), as a hung or black-holed image host does.

Connections are held until ``release()`` (or ``stop()``) closes them, so a client waiting on
one sees its own timeout, or an end of stream when released. ``accepted`` counts connections.
"""

from __future__ import annotations

import socket
import threading

from stack.waiting import WaitTimeout, wait_until


class SilentHost:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = int(self._listener.getsockname()[1])
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="silent-host", daemon=True)
        self.accepted = 0

    def start(self) -> SilentHost:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            with self._lock:
                self._held.append(conn)
                self.accepted += 1

    def wait_for(self, connections: int, timeout_s: float = 30.0) -> bool:
        """Whether ``connections`` have been accepted within ``timeout_s``."""
        try:
            wait_until(lambda: self.accepted >= connections, timeout_s, interval=0.01)
        except WaitTimeout:
            return False
        return True

    def release(self) -> None:
        """Close every held connection (the clients see an end of stream)."""
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            conn.close()

    def stop(self) -> None:
        """Stop listening (later connections are refused) and close the held ones."""
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close alone does not
        except OSError:
            pass  # already stopped
        self._listener.close()
        self._thread.join(timeout=5)
        self.release()
