"""Start a real Prometheus Alertmanager on 127.0.0.1 (Debian ``prometheus-alertmanager``).

A minimal config routing everything to a receiver that sends nowhere, storage in a temporary
directory, clustering disabled (``--cluster.listen-address=``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from otel_llm_processor.testing.postgres import free_port

__all__ = ["AlertmanagerServer", "find_alertmanager"]

_CONFIG = """\
route:
  receiver: blackhole
  group_by: ['alertname']
  group_wait: 1h
  group_interval: 1h
  repeat_interval: 24h
receivers:
  - name: blackhole
"""


def find_alertmanager() -> str | None:
    for candidate in ("/usr/bin/prometheus-alertmanager",):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


@dataclass
class AlertmanagerServer:
    binary: str
    port: int = 0
    root: str = ""
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> AlertmanagerServer:
        self.root = tempfile.mkdtemp(prefix="otel-llm-am-")
        config = os.path.join(self.root, "alertmanager.yml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(_CONFIG)
        last_error = ""
        for _ in range(5):  # the probed port may be taken before Alertmanager binds it
            self.port = free_port()
            log = open(os.path.join(self.root, "log"), "wb")  # noqa: SIM115 - kept open for the process
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.path={os.path.join(self.root, 'data')}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            if self._wait_ready(time.monotonic() + timeout):
                return self
            last_error = self._log_tail()
            self._terminate()
        self.stop()
        raise RuntimeError(f"Alertmanager did not start: {last_error}")

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.root, "log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def stop(self) -> None:
        self._terminate()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = ""
