"""Waiting on another process's progress by what it does, not by how long it usually takes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def wait_until_open(proc: subprocess.Popen[bytes], path: Path, timeout: float = 60.0) -> bool:
    """Wait until `proc` has `path` open (Linux's /proc/PID/fd); False when it ended first.

    Kill tests count their random kill points from there, past the interpreter's start, whose
    length varies with the machine's load far more than the work that follows."""
    fds = Path(f"/proc/{proc.pid}/fd")
    wanted = os.path.realpath(path)
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        assert time.monotonic() < deadline, f"the process never opened {path}"
        try:
            if any(os.readlink(fd) == wanted for fd in fds.iterdir()):
                return True
        except OSError:  # a descriptor closed while listed, or the process ended
            pass
        time.sleep(0.005)
    return False
