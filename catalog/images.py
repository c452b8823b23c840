"""Product photos: validate with Pillow, re-encode without metadata, make the renditions.

Pure functions on bytes in memory: no storage and no database here (services.py decides where
the results go). Renditions are made once, at upload; a shopper's request never resizes.
"""

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Only raster formats a browser shows natively. SVG is refused on purpose: it can carry script.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
ACCEPTED_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
MASTER_JPEG_QUALITY = 90
RENDITION_JPEG_QUALITY = 82
RENDITION_WEBP_QUALITY = 80
# Encoder effort. Uploads get the best: libwebp method 4 (files ~7% smaller than method 2 at the same
# quality, PSNR within 0.2 dB) and progressive JPEG (~3% smaller, drawn coarse-to-fine), at about twice
# the CPU; worth it for photos served for years. `quick=True` (method 2, baseline JPEG) is for pictures
# generated on every fresh machine (the demo catalogue): same quality settings, a little more bytes.
WEBP_METHOD = 4
QUICK_WEBP_METHOD = 2
CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"jpeg": "jpg", "webp": "webp"}

# The stored master: kept to rebuild renditions, never shown to shoppers, so twice the widest rendition
# (room for a wider one later) is all it needs; a larger photo is decoded smaller (image_open).
MASTER_MAX_SIDE = 2 * max(settings.IMAGE_RENDITION_WIDTHS)

# Pillow's own guard (it raises past twice this) agrees with ours; we refuse at the limit itself.
Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS


class ImageRejectedError(ValidationError):
    """The file is not a photo we accept; the message is meant for the staff member uploading it."""


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    width: int
    height: int
    format: str  # "jpeg" or "webp"

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


@dataclass(frozen=True)
class ProcessedImage:
    master: EncodedImage
    renditions: list[EncodedImage]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def image_check_size(size: int) -> None:
    """Refuse empty and oversized files before reading them (cheap; the upload policy says the same)."""
    limit = settings.IMAGE_UPLOAD_MAX_BYTES
    if size <= 0:
        raise ImageRejectedError("The file is empty.", code="empty")
    if size > limit:
        raise ImageRejectedError(
            f"The file is {_megabytes(size)}; the limit is {_megabytes(limit)}. Export a smaller JPEG.",
            code="too_large",
        )


def image_open(data: bytes) -> Image.Image:
    """Open and decode a JPEG, PNG or WebP photo (at most about twice MASTER_MAX_SIDE on its long side),
    or raise ImageRejectedError saying why; a photo over IMAGE_MAX_PIXELS is refused from its header."""
    image_check_size(len(data))
    if data.lstrip()[:1] == b"<":  # SVG, HTML, XML: say so plainly rather than "not an image"
        raise ImageRejectedError(
            "SVG and other text-based files are not accepted; upload a JPEG, PNG or WebP photo.", code="svg"
        )
    try:
        with warnings.catch_warnings():  # Pillow warns past our limit; we refuse just below, from the header
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels() from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejectedError(
            "This file is not a JPEG, PNG or WebP image (whatever its name says).", code="not_image"
        ) from exc
    # Checked from the header alone, before a single pixel is decoded.
    if image.width * image.height > settings.IMAGE_MAX_PIXELS:
        raise _too_many_pixels()
    if getattr(image, "n_frames", 1) > 1:
        raise ImageRejectedError("Animated images are not accepted; upload a still photo.", code="animated")
    # JPEG decodes at 1/2, 1/4 or 1/8 scale when that still leaves the master its size (draft: a quarter
    # of the memory and time per halving); other formats decode in full and are halved right after.
    scale = master_scale(image.size)
    if scale > 1:
        image.draft(image.mode, (-(-image.width // scale), -(-image.height // scale)))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRejectedError("The image data is damaged or incomplete; export it again.", code="damaged") from exc
    scale = master_scale(image.size)
    if scale == 1:
        return image
    if image.mode in ("1", "P"):  # Pillow reduces neither: widen first (image_normalise would anyway)
        image = image.convert("L" if image.mode == "1" else "RGBA" if "transparency" in image.info else "RGB")
    return image.reduce(scale)


def master_scale(size: tuple[int, int]) -> int:
    """The whole factor a photo can be shrunk by and stay at least MASTER_MAX_SIDE on its long side."""
    return max(1, max(size) // MASTER_MAX_SIDE)


def _too_many_pixels() -> ImageRejectedError:
    limit = settings.IMAGE_MAX_PIXELS / 1_000_000
    return ImageRejectedError(
        f"The image has more than {limit:g} million pixels; resize it before uploading.", code="too_many_pixels"
    )


def image_normalise(image: Image.Image) -> Image.Image:
    """Upright (EXIF orientation applied), sRGB, RGB or RGBA, with no metadata left attached."""
    upright = ImageOps.exif_transpose(image)
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
    mode = "RGBA" if has_alpha else "RGB"
    converted = _to_srgb(upright, mode)
    if mode == "RGBA" and converted.getchannel("A").getextrema()[0] == 255:
        converted = converted.convert("RGB")  # an alpha channel with nothing transparent is dead weight
    clean = converted.copy()
    clean.info = {}  # EXIF, XMP, ICC, comments, GPS: nothing travels to the re-encoded files
    return clean


def _to_srgb(image: Image.Image, mode: str) -> Image.Image:
    """Convert embedded colour profiles (Adobe RGB, CMYK...) to sRGB, which browsers assume."""
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            output_mode = mode if image.mode != "L" else "RGB"
            converted = ImageCms.profileToProfile(image, source, target, outputMode=output_mode)
            return converted.convert(mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to a plain conversion, the colours are close enough
    return image.convert(mode)


def _encode(image: Image.Image, fmt: str, *, quality: int, quick: bool = False) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        if image.mode == "RGBA":  # JPEG has no alpha: lay the photo on white, like the shop's cards
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        image.save(buffer, format="JPEG", quality=quality, optimize=True, progressive=not quick)
    else:
        image.save(buffer, format="WEBP", quality=quality, method=QUICK_WEBP_METHOD if quick else WEBP_METHOD)
    return buffer.getvalue()


def rendition_widths(original_width: int) -> list[int]:
    """The configured widths below the original, plus the largest we can offer without upscaling."""
    widths = sorted(settings.IMAGE_RENDITION_WIDTHS)
    largest = min(original_width, widths[-1])
    return [*(width for width in widths if width < largest), largest]


def renditions_make(image: Image.Image, *, quick: bool = False) -> list[EncodedImage]:
    """WebP and JPEG at each rendition width, smallest first (made largest first, see _downscale)."""
    made: dict[int, tuple[Image.Image, list[EncodedImage]]] = {}
    for width in reversed(rendition_widths(image.width)):
        height = max(1, round(image.height * width / image.width))
        resized = image if width == image.width else _downscale(image, [m for m, _ in made.values()], width, height)
        encoded = [
            EncodedImage(_encode(resized, fmt, quality=quality, quick=quick), width, height, fmt)
            for fmt, quality in (("webp", RENDITION_WEBP_QUALITY), ("jpeg", RENDITION_JPEG_QUALITY))
        ]
        made[width] = (resized, encoded)
    return [rendition for width in sorted(made) for rendition in made[width][1]]


def _downscale(original: Image.Image, smaller: list[Image.Image], width: int, height: int) -> Image.Image:
    """Resize from the smallest rendition already made that is at least 1.5 times as wide, else the original:
    Lanczos from such a copy matches the original's result (PSNR above 60 dB, far below what the encoders
    change) for a fraction of the CPU."""
    sources = [candidate for candidate in smaller if 2 * candidate.width >= 3 * width]
    source = min(sources, key=lambda candidate: candidate.width) if sources else original
    return source.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)


def image_process(data: bytes, *, quick: bool = False) -> ProcessedImage:
    """Validate an uploaded photo and return its clean master (full size) and its renditions
    (``quick``: lighter encoder effort, see WEBP_METHOD).

    CPU only (no storage, no database), and the result is plain bytes and numbers, so it can be
    computed in another process and stored by catalog.services.image_records.product_image_create(processed=...)."""
    image = image_normalise(image_open(data))
    # The master keeps transparency as WebP; photos (no alpha) stay JPEG, the format staff expect.
    master_format = "webp" if image.mode == "RGBA" else "jpeg"
    master = EncodedImage(
        _encode(image, master_format, quality=MASTER_JPEG_QUALITY, quick=quick),
        image.width,
        image.height,
        master_format,
    )
    return ProcessedImage(master=master, renditions=renditions_make(image, quick=quick))


def renditions_from_master(data: bytes) -> tuple[int, int, list[EncodedImage]]:
    """Width, height and renditions of an image already stored (for `manage.py rebuild_renditions`)."""
    image = image_normalise(image_open(data))
    return image.width, image.height, renditions_make(image)
