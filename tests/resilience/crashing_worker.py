"""A test-only Celery app module: ``hub.celery``'s app, with the image decoder patched so
that the file whose SHA-256 is ``HUB_TEST_CRASH_SHA256`` kills the process decoding it
(SIGKILL, as a segfaulting parser or the OOM killer would). Production code is untouched.

    celery -A tests.resilience.crashing_worker worker ..."""

from __future__ import annotations

import os
import signal

from hub.celery import app
from triage.media import decode

MARKER = os.environ.get("HUB_TEST_CRASH_SHA256", "")
_open_image = decode.open_image


def _crashing_open_image(fp, pillow_format, max_pixels):
    # Stored originals are named by their SHA-256 (triage.storage.blob_relpath).
    if MARKER and MARKER in str(getattr(fp, "name", "")):
        os.kill(os.getpid(), signal.SIGKILL)
    return _open_image(fp, pillow_format, max_pixels)


decode.open_image = _crashing_open_image

__all__ = ["app"]
