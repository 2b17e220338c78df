"""MAST with no network: the portal from fixtures/mast, the downloads from a real HTTP
server on the loopback interface.

Queries are answered as astroquery's own tests answer them: ``PortalAPI._request`` is
patched to return the JSON files by service name. Downloads are not patched at all:
skyqa's own HTTP code (`skyqa.mast`, through astroquery's ``requests`` session) talks to
`FileServer`, a ``http.server`` on 127.0.0.1 that behaves as an archive's file service
does: HEAD, Content-Length, Accept-Ranges, ETag/Last-Modified, Range with If-Range (a
changed file comes whole, 200, as RFC 9110 says), and, when scripted, the network's
failures: 429/503 with Retry-After, a connection closed before any answer, a body cut
short after its Content-Length was announced, and a stall longer than the client's read
timeout. ``requests`` and urllib3 then raise what they raise on a real network.

Each served file is a small stand-in FITS (fixtures/mast/files) whose FILENAME and
ROOTNAME say which product it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mast"


class _Reply:
    def __init__(self, content: bytes):
        self.content = content
        self.text = content.decode()

    def json(self):
        return json.loads(self.content)


def standin_file(name: str) -> bytes:
    """The stand-in FITS served for a product: FILENAME and ROOTNAME set to its name's."""
    from astropy.io import fits

    kind = "drz" if name.endswith(("_drz.fits", "_drc.fits")) else "flt"
    with fits.open(FIXTURES / "files" / f"standin_{kind}.fits") as hdul:
        hdul[0].header["FILENAME"] = name
        hdul[0].header["ROOTNAME"] = name.split("_")[0]
        buffer = io.BytesIO()
        hdul.writeto(buffer)
    return buffer.getvalue()


class FileServer:
    """The archive's file service on 127.0.0.1, with scripted failures.

    ``script`` holds actions for the coming GET requests, one per request, in order:
    ``("status", code, retry_after)``, ``("close",)`` (no answer at all),
    ``("cut", fraction)`` (the body stops after that fraction), ``("stall", seconds)``
    (nothing sent for that long). ``requests`` records (method, name, headers) of each.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.script: list[tuple] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                server.answer(self, head=True)

            def do_GET(self):
                server.answer(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/api/v0.1/Download/file"

    def publish(self, name: str, content: bytes | None = None) -> None:
        """Serve ``content`` (default: the stand-in) as ``name``, with a new ETag."""
        content = standin_file(name) if content is None else content
        self.files[name] = content
        self.etags[name] = '"' + hashlib.sha256(content).hexdigest()[:16] + '"'

    def names(self, method: str = "GET") -> list[str]:
        return [name for verb, name, _ in self.requests if verb == method]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        uri = parse_qs(urlparse(handler.path).query).get("uri", [""])[0]
        name = uri.rsplit("/", 1)[-1]
        headers = {key: value for key, value in handler.headers.items()}
        with self.lock:
            self.requests.append(("HEAD" if head else "GET", name, headers))
            action = self.script.pop(0) if self.script and not head else ("serve",)
        if name not in self.files:
            self._send(handler, 404, {"Content-Length": "0"})
            return
        if action[0] == "close":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        if action[0] == "status":
            extra = {"Retry-After": str(action[2])} if action[2] is not None else {}
            self._send(handler, action[1], {"Content-Length": "0", **extra})
            return
        if action[0] == "stall":
            time.sleep(action[1])
        content, etag = self.files[name], self.etags[name]
        start = 0
        wanted = re.fullmatch(r"bytes=(\d+)-", headers.get("Range", ""))
        if wanted and headers.get("If-Range", etag) == etag and int(wanted[1]) < len(content):
            start = int(wanted[1])
        body = content[start:]
        reply = {
            "Content-Length": str(len(body)),
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Content-Type": "application/octet-stream",
        }
        if start:
            reply["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        self._send(handler, 206 if start else 200, reply)
        if head:
            return
        with contextlib.suppress(OSError):  # the client may have given up (a stall)
            if action[0] == "cut":
                handler.wfile.write(body[: int(len(body) * action[1])])
                handler.wfile.flush()
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            handler.wfile.write(body)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict) -> None:
        with contextlib.suppress(OSError):
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.end_headers()


class MastReplay:
    """Install with `install(monkeypatch)`; then steer what astroquery and skyqa get.

    ``field`` names the answers replayed (``caom_filtered_<field>.json``,
    ``caom_products_<field>.json``). ``listed_sizes`` overrides the product list's
    ``size`` of some files (by name): MAST's
    listed sizes are catalogue values, not what the file service serves. ``renamed`` gives
    some products another ``productFilename`` in the answer (a corrupted or hostile list);
    their ``dataURI``, and so the file served, stay.
    """

    def __init__(self, empty: bool = False, field: str = "horsehead"):
        self.empty = empty
        self.field = field
        self.requests: list[str] = []
        self.listed_sizes: dict[str, int] = {}
        self.renamed: dict[str, str] = {}
        self.server = FileServer()

    @property
    def downloads(self) -> list[str]:
        return self.server.names("GET")

    def _products(self) -> bytes:
        document = json.loads((FIXTURES / f"caom_products_{self.field}.json").read_text())
        for row in document["data"]:
            name = row["productFilename"]
            if name not in self.server.files:
                self.server.publish(name)
            row["size"] = self.listed_sizes.get(name, len(self.server.files[name]))
            row["productFilename"] = self.renamed.get(name, name)
        return json.dumps(document).encode()

    def request(self, method="POST", url=None, data=None, **kwargs):
        if "columnsconfig" in url:
            self.requests.append("columnsconfig")
            return [_Reply((FIXTURES / "columnsconfig_caom.json").read_bytes())]
        service = re.search(r"service%22%3A%20%22([\w\.]*)%22", data).group(1)
        self.requests.append(service)
        if service == "Mast.Caom.Products":
            return [_Reply(self._products())]
        name = "caom_filtered_empty.json" if self.empty else f"caom_filtered_{self.field}.json"
        return [_Reply((FIXTURES / name).read_bytes())]

    def install(self, monkeypatch) -> MastReplay:
        from astroquery import mast

        monkeypatch.setattr(mast.discovery_portal.PortalAPI, "_request", self.request)
        monkeypatch.setattr(
            mast.Observations._portal_api_connection, "MAST_DOWNLOAD_URL", self.server.url
        )
        return self
