"""Where moot keeps what persists between sessions: the data dir.

``$MOOT_HOME`` when set, else the platformdirs user data dir. Memory and sessions live under it,
so moving them is copying this one folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir(create: bool = True) -> Path:
    """The data dir (``$MOOT_HOME``, else the user data dir), created unless ``create=False``."""
    env = os.environ.get("MOOT_HOME")
    path = Path(env).expanduser() if env else Path(platformdirs.user_data_dir("moot"))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
