"""Serving astroquery's MAST portal from the files in fixtures/mast, with no network.

Patched as astroquery's own tests patch it: ``PortalAPI._request`` answers from the JSON
files by service name, and ``Observations._download_file`` writes a stand-in FITS file.
Switches reproduce the failure modes: an empty query, throttled or failing downloads, and
truncated files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from requests import HTTPError, Response

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mast"


class _Reply:
    def __init__(self, content: bytes):
        self.content = content
        self.text = content.decode()

    def json(self):
        return json.loads(self.content)


class MastReplay:
    """Install with `install(monkeypatch)`; then count and steer what astroquery gets."""

    def __init__(self, empty: bool = False):
        self.empty = empty
        self.requests: list[str] = []
        self.downloads: list[str] = []
        self.fail_next: list[int | str] = []  # HTTP statuses, or "truncate", one per call
        self.standins = {
            kind: (FIXTURES / "files" / f"standin_{kind}.fits").read_bytes()
            for kind in ("flt", "drz")
        }

    def _products(self) -> bytes:
        document = json.loads((FIXTURES / "caom_products_horsehead.json").read_text())
        for row in document["data"]:  # stand-in files are small: announce their real size
            kind = "drz" if row["productFilename"].endswith("_drz.fits") else "flt"
            row["size"] = len(self.standins[kind])
        return json.dumps(document).encode()

    def request(self, method="POST", url=None, data=None, **kwargs):
        if "columnsconfig" in url:
            self.requests.append("columnsconfig")
            return [_Reply((FIXTURES / "columnsconfig_caom.json").read_bytes())]
        service = re.search(r"service%22%3A%20%22([\w\.]*)%22", data).group(1)
        self.requests.append(service)
        if service == "Mast.Caom.Products":
            return [_Reply(self._products())]
        name = "caom_filtered_empty.json" if self.empty else "caom_filtered_horsehead.json"
        return [_Reply((FIXTURES / name).read_bytes())]

    def download(self, url, local_filepath, **kwargs):
        name = url.split("/")[-1]
        self.downloads.append(name)
        content = self.standins["drz" if name.endswith("_drz.fits") else "flt"]
        if self.fail_next:
            failure = self.fail_next.pop(0)
            if failure == "truncate":
                Path(local_filepath).write_bytes(content[: len(content) // 3])
                return
            response = Response()
            response.status_code = failure
            raise HTTPError(f"{failure} error for {url}", response=response)
        path = Path(local_filepath)
        done = path.stat().st_size if path.exists() and kwargs.get("continuation") else 0
        with open(path, "ab" if done else "wb") as handle:  # resume as a Range request would
            handle.write(content[done:])

    def install(self, monkeypatch) -> MastReplay:
        from astroquery import mast

        monkeypatch.setattr(mast.discovery_portal.PortalAPI, "_request", self.request)
        monkeypatch.setattr(mast.Observations, "_download_file", self.download)
        return self
