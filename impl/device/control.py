"""The control interface: one JSON request a line to an array's ``<site>.ctl.sock``, one JSON answer."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class ControlError(RuntimeError):
    """The array could not be reached."""


def call(folder: Path, command: str, site: str = "A", timeout: float = 600.0, **args: Any) -> dict[str, Any]:
    """Send ``command`` to array ``site`` served from ``folder``; its answer (``ok`` says whether it did it)."""
    path = folder / f"{site}.ctl.sock"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall((json.dumps({"command": command, **args}) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        raise ControlError(f"array {site} at {path} does not answer: {e.strerror or e}") from None
    if not data:
        raise ControlError(f"array {site} closed the control socket without an answer")
    answer: dict[str, Any] = json.loads(data)
    return answer
