"""Where product photos live: the ImageField's storage (local disk, or the private S3 bucket) and
the direct-to-S3 uploads staff make from the admin (presigned POST, then a server-side check).

Calls to S3 happen only here and only on the staff upload path; building a shopper-facing URL
is string work done by the storage backend (CloudFront domain), never a request.
"""

import logging
import re
import uuid

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from .images import ImageRejectedError, image_check_size

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "uploads/"
UPLOAD_KEY_RE = re.compile(r"^uploads/[0-9a-f]{32}$")
UPLOAD_SIGNING_SALT = "catalog.storage.image-upload"
# A staff member may take a while to fill in the alt text after the file has gone up.
TOKEN_GRACE_SECONDS = 30 * 60
# Everything a storage backend raises when it cannot be reached or refuses a request.
STORAGE_ERRORS = (BotoCoreError, ClientError, Boto3Error, OSError)


class ImageStorageError(Exception):
    """Storage was unreachable or refused the request; whatever this call had written was removed."""


def media_storage() -> Storage:
    from .models import ProductImage  # models import nothing from here; avoid the cycle at import time

    return ProductImage._meta.get_field("image").storage


def direct_upload_enabled() -> bool:
    """True when images go to S3, so the browser can send files straight to the bucket."""
    from storages.backends.s3 import S3Storage

    return isinstance(media_storage(), S3Storage)


def _s3():
    storage = media_storage()
    return storage.connection.meta.client, storage.bucket_name


def upload_presign(*, user_id: int) -> dict:
    """A presigned POST for one new object under uploads/ (key chosen here), plus a signed token naming it.

    Signing is local (no request to S3). The policy limits size and content type; S3 enforces it.
    """
    client, bucket = _s3()
    key = f"{UPLOAD_PREFIX}{uuid.uuid4().hex}"
    max_bytes = settings.IMAGE_UPLOAD_MAX_BYTES
    post = client.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Conditions=[["content-length-range", 1, max_bytes], ["starts-with", "$Content-Type", "image/"]],
        ExpiresIn=settings.IMAGE_UPLOAD_EXPIRY_MINUTES * 60,
    )
    token = signing.dumps({"key": key, "user": user_id}, salt=UPLOAD_SIGNING_SALT)
    return {"url": post["url"], "fields": post["fields"], "token": token, "max_bytes": max_bytes}


def upload_key_from_token(*, token: str, user_id: int) -> str:
    """The uploads/ key a token names, if this user was given it recently; never a key from the client."""
    max_age = settings.IMAGE_UPLOAD_EXPIRY_MINUTES * 60 + TOKEN_GRACE_SECONDS
    try:
        data = signing.loads(token, salt=UPLOAD_SIGNING_SALT, max_age=max_age)
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise ImageRejectedError("The upload has expired or is not valid; choose the file again.") from exc
    key = data.get("key", "") if isinstance(data, dict) else ""
    if data.get("user") != user_id or not UPLOAD_KEY_RE.match(key):
        raise ImageRejectedError("The upload has expired or is not valid; choose the file again.")
    return key


def upload_read(*, key: str) -> bytes:
    """Fetch a direct upload after checking its size with a HEAD; oversized uploads are deleted unread."""
    client, bucket = _s3()
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        # 403 too: without s3:ListBucket, S3 answers 403 for a key that does not exist.
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (403, 404):
            raise ImageRejectedError("The uploaded file was not found (it may have expired); upload it again.") from exc
        raise ImageStorageError("Image storage refused the request.") from exc
    except STORAGE_ERRORS as exc:
        raise ImageStorageError("Image storage could not be reached.") from exc
    try:
        image_check_size(head["ContentLength"])
    except ImageRejectedError:
        upload_delete(key=key)
        raise
    limit = settings.IMAGE_UPLOAD_MAX_BYTES
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        data = body.read(limit + 1)  # never more than the limit in memory, whatever the object became
        body.close()
    except STORAGE_ERRORS as exc:
        raise ImageStorageError("Image storage could not be reached.") from exc
    image_check_size(len(data))
    return data


def upload_delete(*, key: str) -> None:
    """Best effort: a left-over upload is harmless and expires by the bucket's lifecycle rule on uploads/."""
    client, bucket = _s3()
    try:
        client.delete_object(Bucket=bucket, Key=key)
    except STORAGE_ERRORS:
        log.warning("Could not delete the direct upload %s; the uploads/ lifecycle rule will expire it", key)


def objects_save(files: list[tuple[str, bytes, str]]) -> list[str]:
    """Write (name, data, content type) files; all or none: on failure, remove what was written and raise."""
    storage = media_storage()
    saved: list[str] = []
    try:
        for name, data, content_type in files:
            content = ContentFile(data)
            content.content_type = content_type  # S3Storage sends it as the object's Content-Type
            saved.append(storage.save(name, content))
    except STORAGE_ERRORS as exc:
        objects_delete(saved)
        raise ImageStorageError("Image storage could not be reached; nothing was saved.") from exc
    return saved


def objects_delete(names: list[str]) -> bool:
    """Best effort delete; True when every name is gone. Never raises a storage error.

    Stops at the first storage error (the rest would only wait out the same timeouts) with one
    warning event naming what is left, so it can be removed by hand."""
    storage = media_storage()
    for deleted, name in enumerate(names):
        try:
            storage.delete(name)
        except STORAGE_ERRORS as exc:
            event = "image_files_delete_failed"
            fields = {"names": len(names), "deleted": deleted, "left": names[deleted:], "error": type(exc).__name__}
            log.warning(event, extra={"event": event, **fields})
            return False
    return True


def object_read(name: str) -> bytes:
    try:
        with media_storage().open(name, "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise
    except STORAGE_ERRORS as exc:
        raise ImageStorageError("Image storage could not be reached.") from exc
