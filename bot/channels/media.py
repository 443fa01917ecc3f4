"""Media a channel received (photos), stored under data_dir/media by their content hash."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

MEDIA_DIR = "media"


def file_box_bytes(box: Any) -> bytes | None:
    """The bytes in a Wechaty FileBox, or None when it only points elsewhere (a URL is not fetched)."""
    kind = getattr(getattr(box, "type", lambda: None)(), "name", "")
    if kind.endswith("Base64") or getattr(box, "base64", None):
        return base64.b64decode(box.base64)
    if getattr(box, "buffer", None):
        return bytes(box.buffer)
    if getattr(box, "stream", None):
        return bytes(box.stream)
    if getattr(box, "qrCode", None):
        import qrcode  # the mock puppet's stand-in photo is a QR code

        out = io.BytesIO()
        qrcode.make(box.qrCode).get_image().save(out, format="PNG")
        return out.getvalue()
    return None


def save_media(data_dir: Path, data: bytes, name: str) -> Path:
    """Write `data` once under its SHA-256 (the same photo sent twice is one file); returns the path."""
    suffix = Path(name).suffix.lower()[:8] or ".bin"
    folder = Path(data_dir) / MEDIA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path
