"""A tiny client for headless chromium, through the Chrome DevTools Protocol: open a page, then
report what went wrong in it (console errors, uncaught exceptions, failed loads) and the natural
size of every image.

    with Chromium() as browser:
        page = browser.open(Path("build/site/README.html"))
        page.errors          # ["console error: ...", "exception: ..."], failed loads included
        page.images          # [{"src": "...", "width": 1430, "height": 385}, ...]

Needs Debian's `chromium` (or Google's, on PATH as chromium or google-chrome) and websocket-client.
"""
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websocket

NAMES = ["chromium", "chromium-browser", "google-chrome"]
IMAGES = """Array.from(document.images).map(
    img => ({src: img.getAttribute("src"), width: img.naturalWidth, height: img.naturalHeight}))"""


def find_chromium():
    """The path of a chromium executable, or None."""
    return next((path for path in map(shutil.which, NAMES) if path), None)


@dataclass
class Page:
    url: str
    errors: list = field(default_factory=list)
    images: list = field(default_factory=list)


class Chromium:
    """One headless browser; `open(path)` loads a page in a fresh tab and waits for its load event."""

    def __init__(self, executable=None, timeout=30):
        self.executable = executable or find_chromium()
        self.timeout = timeout

    def __enter__(self):
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.process = subprocess.Popen(
            [self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"     # chromium writes its port here
        deadline = time.monotonic() + self.timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"{self.executable} did not start its DevTools server")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _http(self, path, method="GET"):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return response.read().decode()

    def open(self, path):
        """Load the file `path` in a new tab; return a Page with its errors and images."""
        url = Path(path).resolve().as_uri()
        target = json.loads(self._http("/json/new?about:blank", method="PUT"))
        socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=self.timeout,
                                             suppress_origin=True)     # chromium refuses unknown origins
        try:
            return _load(socket, url, self.timeout)
        finally:
            socket.close()
            self._http(f"/json/close/{target['id']}")


def _load(socket, url, timeout):
    page, ids = Page(url), iter(range(1, 1_000_000))

    def send(method, **params):
        message_id = next(ids)
        socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        return message_id

    def until(done):
        """Read messages, noting the errors among them, until `done(message)` is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(socket.recv())
            _note_error(message, page.errors)
            if done(message):
                return message
        raise TimeoutError(f"{url}: no answer from chromium within {timeout} s")

    for domain in ("Page", "Runtime", "Log"):
        send(f"{domain}.enable")
    send("Page.navigate", url=url)
    until(lambda m: m.get("method") == "Page.loadEventFired")
    time.sleep(0.3)                              # scripts that run after the load event
    asked = send("Runtime.evaluate", expression=IMAGES, returnByValue=True)
    answer = until(lambda m: m.get("id") == asked)
    page.images = answer["result"]["result"]["value"]
    return page


def _note_error(message, errors):
    method, params = message.get("method"), message.get("params", {})
    if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
        text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
        errors.append(f"console error: {text}")
    elif method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        errors.append(f"exception: {details.get('exception', {}).get('description', details['text'])}")
    elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
        errors.append(f"console error: {params['entry']['text']} ({params['entry'].get('url', '')})")
