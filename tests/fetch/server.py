"""A loopback HTTP server for the fetch tests: serves in-memory files with Range support, and can
drop a connection mid-file or serve corrupted bytes, counting every request."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    files: dict[str, bytes] = field(default_factory=dict)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before a drop
    corrupt: set[str] = field(default_factory=set)  # paths served with one byte flipped
    ignore_range: bool = False
    fail_first: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses, in turn
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


def _handler(state: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            if state.fail_first.get(self.path):
                self.send_error(state.fail_first[self.path].pop(0))
                return
            if body is None:
                self.send_error(404, "Not Found")
                return
            if self.path in state.corrupt:
                mid = len(body) // 2
                body = body[:mid] + bytes([body[mid] ^ 0xFF]) + body[mid + 1:]
            start = 0
            if rng and not state.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            chunk = body[start:]
            cut = state.drop_after.pop(self.path, None)
            if cut is not None:
                self.wfile.write(chunk[:cut])
                self.wfile.flush()
                self.close_connection = True
                return  # the declared length is never reached: the client sees a short body
            self.wfile.write(chunk)

    return Handler


@contextlib.contextmanager
def serve(state: Behaviour) -> Iterator[str]:
    """Run the server on 127.0.0.1 on a free port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
