"""Load a local page in headless Chromium and report what a person would see (test helper).

Talks the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages ending in NUL on file
descriptors 3 and 4), standard library only. ``inspect_page`` collects console errors, uncaught
exceptions and failed loads, evaluates a few DOM questions and saves a PNG screenshot.

Chromium comes from the system (Debian: ``apt-get install chromium``); ``find_chromium`` returns
None when there is none, and callers skip with that reason.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = "no Chromium found (Debian/Ubuntu: apt-get install chromium; or set COAXIAL_CHROMIUM)"


def find_chromium() -> str | None:
    explicit = os.environ.get("COAXIAL_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageResult:
    errors: list[str] = field(default_factory=list)       # console errors, exceptions, failed loads
    values: dict[str, object] = field(default_factory=dict)
    screenshot: Path | None = None


class _Pipe:
    def __init__(self, binary: str, profile: Path, width: int, height: int):
        to_chrome_r, self._to_chrome = _pipe_above_4()
        self._from_chrome, from_chrome_w = _pipe_above_4()

        def wire_fds():  # the child reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        args = [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--mute-audio", "--disable-extensions",
                "--allow-file-access-from-files", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=wire_fds, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, close_fds=False)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def _pipe_above_4() -> tuple[int, int]:
    """A pipe whose ends are not fds 3 or 4, so wiring the child's 3 and 4 cannot clobber them
    (dup2 onto the same number would also keep the close-on-exec flag)."""
    import fcntl

    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


def _errors(events: list[dict]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            found.append("exception: " + params.get("exceptionDetails", {}).get("text", ""))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            found.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.loadingFailed":
            found.append(f"load failed: {params.get('errorText')} ({params.get('type')})")
    return found


def inspect_page(url: str, expressions: dict[str, str], screenshot: Path, binary: str,
                 width: int = 412, height: int = 915, settle_s: float = 1.0) -> PageResult:
    """Open ``url`` (a phone-sized window by default), evaluate each JavaScript expression (awaiting
    promises), capture console errors and save a full-page screenshot to ``screenshot``."""
    result = PageResult()
    with tempfile.TemporaryDirectory(prefix="coaxial-chromium-") as profile:
        pipe = _Pipe(binary, Path(profile), width, height)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send("Page.navigate", {"url": url}, session=session)
            pipe.wait_for("Page.loadEventFired")
            time.sleep(settle_s)  # let media elements read their metadata
            for name, expression in expressions.items():
                reply = pipe.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                       "returnByValue": True}, session=session)
                if "exceptionDetails" in reply:
                    result.errors.append(f"evaluating {name}: {reply['exceptionDetails'].get('text')}")
                result.values[name] = reply.get("result", {}).get("value")
            shot = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                             session=session)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            result.screenshot = screenshot
            pipe.send("Runtime.evaluate", {"expression": "0"}, session=session)  # drain late events
        finally:
            result.errors = _errors(pipe.events) + result.errors
            pipe.close()
    return result


def artifact_dir(tmp_path: Path) -> Path:
    """Where tests keep screenshots: $COAXIAL_TEST_ARTIFACTS if set (CI uploads it), else tmp_path."""
    folder = Path(os.environ.get("COAXIAL_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
