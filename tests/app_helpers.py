"""Starting the real app (``python app.py``) on loopback for API, browser and latency tests.

The server runs in its own process exactly as a user starts it; tests talk to it over HTTP only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_environment(tmp: Path, **extra: str) -> dict[str, str]:
    """Offline (no hub or analytics access), private temp/cache folders, offscreen EGL rendering: as app.py sets them."""
    env = dict(os.environ)
    env.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYOPENGL_PLATFORM="egl", GRADIO_TEMP_DIR=str(tmp / "gradio"), XDG_CACHE_HOME=str(tmp / "cache"),
               MPLCONFIGDIR=str(tmp / "mpl"), HMU_OUTPUT_DIR=str(tmp / "outputs"), PYTHONUNBUFFERED="1")
    env.pop("HMU_SAFE_MODE", None)
    env.update(extra)
    return env


@dataclass
class AppProcess:
    """A running ``python app.py``: its URL, log file and how long it took to answer HTTP."""

    proc: subprocess.Popen
    url: str
    log: Path
    start_seconds: float
    launched_at: float = field(default=0.0)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_warm(self, timeout: float = 180.0) -> float:
        """Seconds from launch until the background warm-up finished (its log line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "warm-up done" in self.log_text():
                return time.perf_counter() - self.launched_at
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited during warm-up:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"no warm-up after {timeout} s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_app(tmp: Path, *args: str, timeout: float = 120.0, **env: str) -> AppProcess:
    """Launch ``python app.py --port <free> *args`` and wait until it answers HTTP 200."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp / "app.log"
    launched = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port), *args], cwd=REPO,
                                env=app_environment(tmp, **env), stdout=out, stderr=subprocess.STDOUT)
    app = AppProcess(proc, url, log, 0.0, launched)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}:\n{app.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    app.start_seconds = time.perf_counter() - launched
                    return app
        except OSError:
            pass
        time.sleep(0.2)
    app.stop()
    raise TimeoutError(f"the app did not answer within {timeout} s:\n{app.log_text()[-3000:]}")
