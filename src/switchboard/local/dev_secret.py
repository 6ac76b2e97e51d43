"""The local development secret: what the template's generated secrets hold locally.

`switchboard local` puts it into the embedded Secrets Manager for every secret the template
generates (the token secret among them), and `switchboard token` signs with it, so local
tokens verify locally. It is made once per checkout, kept in `.switchboard/` beside the
template (git-ignored, mode 600), and never used anywhere else.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = Path(".switchboard") / "token-secret"


def dev_secret(project: Path) -> str:
    path = project / SECRET_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, exist_ok=True)
    value = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value
