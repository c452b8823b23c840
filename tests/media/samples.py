"""Sample upload files made on the fly: real photos, and the things a photo upload must refuse."""

import io
import struct
import zlib

from PIL import Image


def photo(width: int = 1600, height: int = 1200, fmt: str = "JPEG", *, exif: Image.Exif | None = None) -> bytes:
    """A small-to-encode but real raster image with some detail (gradient plus a disc)."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image.paste((190, 150, 70), (width // 3, height // 3, width // 2, height // 2))
    buffer = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def transparent_png(width: int = 700, height: int = 500) -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((200, 170, 90, 255), (100, 100, 400, 400))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def rotated_jpeg_with_gps() -> bytes:
    """400x200 pixels stored sideways: EXIF orientation 6 says "turn 90° clockwise"; plus a GPS position."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "Camera maker"
    gps = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    exif[0x8825] = gps  # GPSInfo
    return photo(400, 200, exif=exif)


def svg_with_script() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" onload="alert(1)">'
        b"<script>fetch('/admin/').then(r => r.text())</script>"
        b'<circle cx="50" cy="50" r="40" fill="gold"/></svg>'
    )


def text_named_jpg() -> bytes:
    return b"Hello, this is a text file that someone renamed to ring.jpg\n" * 20


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50), (200, 170, 90)).save(buffer, format="GIF")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = photo(800, 600)
    return data[: len(data) // 2]


def decompression_bomb_png(side: int = 20_000) -> bytes:
    """A genuine bomb: a 1-bit PNG of side x side pixels (400 million at the default) in ~50 KB.

    Built chunk by chunk because asking Pillow to allocate it would be the very thing we guard against.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + one bit per pixel
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def noisy_png(side: int = 400) -> bytes:
    """Random pixels compress badly: a few hundred KB, for size-limit tests."""
    import os

    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
