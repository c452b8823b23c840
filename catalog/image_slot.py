"""One photo processed at a time per instance (issue 21): decoding a photo can take hundreds of megabytes.

A 24-megapixel photo decodes to ~100 MB and its conversions take as much again; several gunicorn workers
decoding at once could exhaust a 2 GB instance. Every worker of the instance takes the same file lock
(``fcntl.flock`` on IMAGE_PROCESSING_LOCK_FILE, local to the machine: one slot per instance, not per shop)
around the decode and re-encode. A second upload waits up to IMAGE_PROCESSING_WAIT_SECONDS, then gets a
clear "busy, try again" message (ImageBusyError) instead of a crash or a swapped-out server.
"""

import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ValidationError

logger = logging.getLogger("shop.catalog")

LOCK_FILE_NAME = "jewelry-image-processing.lock"
POLL_SECONDS = 0.05  # flock has no timeout: try again this often, for at most the configured wait
BUSY_MESSAGE = "Another photo is being processed right now; please send this one again in a minute."


class ImageBusyError(ValidationError):
    """The instance's photo slot stayed taken for the whole wait; nothing was read or stored."""


@contextmanager
def image_processing_slot() -> Iterator[None]:
    """Hold the instance's one photo-processing slot for the block, or raise ImageBusyError."""
    path = settings.IMAGE_PROCESSING_LOCK_FILE or os.path.join(tempfile.gettempdir(), LOCK_FILE_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + settings.IMAGE_PROCESSING_WAIT_SECONDS
        attempts = 0
        while True:
            attempts += 1
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempts == 1:
                    logger.info("image_slot_waiting", extra={"event": "image_slot_waiting"})
                if time.monotonic() >= deadline:
                    logger.warning("image_slot_busy", extra={"event": "image_slot_busy", "attempts": attempts})
                    raise ImageBusyError(BUSY_MESSAGE, code="busy") from None
                time.sleep(POLL_SECONDS)
        logger.info("image_slot_taken", extra={"event": "image_slot_taken"})
        try:
            yield
        finally:
            logger.info("image_slot_released", extra={"event": "image_slot_released"})
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
