"""Files the app serves come only from its own output folder: path traversal through the file route."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from app_helpers import REPO

from hmu_demo.config import EMBEDDED_DIR

pytestmark = [pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.skipif(not (EMBEDDED_DIR / "bundle.json").is_file(), reason="embedded bundle missing")]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_only_the_output_folder_is_served(app, client, tmp_path) -> None:
    client.predict("a man kicks", "momask", "lcr-gated", 0, 2.0, api_name="/compare")
    outputs = app.log.parent / "outputs"
    served = sorted(outputs.rglob("*.mp4"))[0]
    secret = app.log.parent / "secret.txt"
    secret.write_text("not for users")
    assert _status(f"{app.url}gradio_api/file={served}") == 200
    attempts = ["/etc/passwd", "/proc/self/environ", str(secret), str(app.log), f"{served.parent}/../../secret.txt",
                f"{outputs}/../secret.txt", "../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd",
                "..%2f..%2f..%2fetc%2fpasswd", str(REPO / "app.py"), str(EMBEDDED_DIR / "bundle.json"),
                str(Path.home() / ".bashrc")]
    for route in ("gradio_api/file=", "file="):
        for path in attempts:
            assert _status(app.url + route + path) in (403, 404), f"{route}{path} was served"
