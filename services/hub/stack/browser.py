"""Chromium from Debian's packages, for the dashboard's browser test.

Not a service: ``svdhub stack install`` makes sure it is there (``apt-get
install chromium`` as root), and the test drives it through Playwright with
``executable_path``, so no browser is ever downloaded from elsewhere.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hub.stack.base import apt_install
from hub.stack.process import StackError

NAME = "chromium"
CANDIDATES = ("chromium", "chromium-browser")


def find_chromium() -> Path | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def install_chromium() -> Path:
    """The chromium binary, installed with apt-get if it is missing."""
    found = find_chromium()
    if found is None:
        apt_install(NAME, ["chromium"])
        found = find_chromium()
    if found is None:
        raise StackError(NAME, "chromium is not on PATH after installing it")
    return found
