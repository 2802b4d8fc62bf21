"""A real HTTP server on 127.0.0.1 serving files, with HTTP Range and a way to cut a transfer short.

Used by the base-download and fine-tune tests in place of huggingface.co: the client code talks
real HTTP over a real socket; only the far end is ours. Binds to the loopback address only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class ServedFiles:
    files: dict[str, Path]                          # URL path ("/x.ckpt") -> file
    cut_after: dict[str, int] = field(default_factory=dict)  # URL path -> bytes to send once, then drop
    honour_range: bool = True
    requests: list[dict] = field(default_factory=list)       # {"path", "range"} per GET


class _Handler(BaseHTTPRequestHandler):
    served: ServedFiles

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 - the name http.server calls
        served = self.server.served
        served.requests.append({"path": self.path, "range": self.headers.get("Range")})
        path = served.files.get(self.path)
        if path is None:
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        ranged = self.headers.get("Range", "")
        if served.honour_range and ranged.startswith("bytes=") and ranged.endswith("-"):
            start = int(ranged[len("bytes="):-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = served.cut_after.pop(self.path, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return  # the client was promised more: it sees the connection end early
        self.wfile.write(body)


class LoopbackServer:
    """``with LoopbackServer(ServedFiles(...)) as server: server.url("/x.ckpt")``; stop() to go offline."""

    def __init__(self, served: ServedFiles):
        self.served = served
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.served = served
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self):
        self._thread.start()
        return self

    def stop(self):
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __exit__(self, *exc):
        self.stop()
        return False
