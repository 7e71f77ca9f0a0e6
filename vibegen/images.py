"""Image bytes: check they are whole, make thumbnails, strip metadata that could identify a model.

A router's image is checked without decoding its pixels (`checked`: the header, the pixel cap
and the file's own integrity marks) so it can be saved the moment it arrives; its preview is
made afterwards (`preview`), decoding it once.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from vibegen.errors import BadImageError, ImageTooLargeError

# The grid's previews, made once at save time: the long side is wide enough to stay sharp in
# the largest cell, two columns on a 1440 px screen (about 700 px each).
THUMB_SIDE = 768
# Blind review's squared previews: its grid has four columns, so smaller does.
SQUARE_SIDE = 512
# Refuse to decode more pixels than this (the downloads' default cap, vibegen.routers.transfer).
MAX_PIXELS = 80_000_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A saved image whose preview is not made yet (the thumb column is NOT NULL): see `checked`.
NO_PREVIEW = b""
# JPEG's end-of-image marker. Entropy-coded data never holds it (an 0xFF byte there is
# followed by 0x00 or a restart marker), so a file cut short has none near its end.
_JPEG_EOI = b"\xff\xd9"
_JPEG_TAIL = 4096  # some cameras and editors append a few bytes after it
# The chunks that carry the pixels; every other chunk (text, EXIF, ICC, time, private) goes.
_PNG_PIXEL_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND")
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


@dataclass(frozen=True)
class ImageInfo:
    """What an image file is: its MIME type and pixel size."""

    mime: str
    width: int
    height: int


@dataclass(frozen=True)
class Prepared:
    """An image checked (and thumbnailed, unless `thumb` is NO_PREVIEW), ready to save."""

    info: ImageInfo
    thumb: bytes


def _opened(data: bytes, router: str, model: str, max_pixels: int) -> Image.Image:
    # The header only (Image.open decodes nothing): refuse a pixel bomb before any decode.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            "the image is a decompression bomb (its header claims more "
            "pixels than Pillow will open)",
            router=router,
            model=model,
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BadImageError(
            "returned bytes that are not a readable image", router=router, model=model
        ) from exc
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise ImageTooLargeError(
            f"the image is {width}×{height}, over the {max_pixels / 1e6:g} megapixel cap",
            router=router,
            model=model,
        )
    return img


@contextmanager
def _decoded(
    data: bytes, router: str, model: str, max_pixels: int
) -> Iterator[tuple[Image.Image, ImageInfo]]:
    # Decode fully (load), so a truncated or corrupt file fails here and not later.
    img_cm = _opened(data, router, model, max_pixels)
    try:
        with img_cm as img:
            img.load()
            yield img, _info(img)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImageError(
            "returned bytes that are not a readable image", router=router, model=model
        ) from exc


def _info(img: Image.Image) -> ImageInfo:
    fmt = img.format or ""
    return ImageInfo(_MIME.get(fmt, f"image/{fmt.lower() or 'unknown'}"), *img.size)


def inspect(
    data: bytes, router: str = "", model: str = "", max_pixels: int = MAX_PIXELS
) -> ImageInfo:
    """Decode `data` fully; BadImageError if it is not an image we can show (or too large)."""
    with _decoded(data, router, model, max_pixels) as (_, info):
        return info


def prepare(
    data: bytes, router: str = "", model: str = "", max_pixels: int = MAX_PIXELS
) -> Prepared:
    """Decode `data` once: BadImageError if unreadable or over `max_pixels`, else its info
    and JPEG thumbnail."""
    with _decoded(data, router, model, max_pixels) as (img, info):
        return Prepared(info, _thumb(img, THUMB_SIDE))


def checked(
    data: bytes, router: str = "", model: str = "", max_pixels: int = MAX_PIXELS
) -> Prepared:
    """`data` checked without decoding its pixels, its preview left to `preview`.

    BadImageError if the header is unreadable or the file is not whole (PNG: every chunk's
    CRC and the IEND chunk; JPEG: its end marker; WebP: the RIFF length; GIF: its trailer);
    ImageTooLargeError over `max_pixels`. Another format is decoded now, once, by `prepare`.
    About a millisecond for a 2 MB PNG, where decoding and thumbnailing take 40-80 ms: a
    run's images arriving together are saved at once instead of queueing for the CPU.
    """
    with _opened(data, router, model, max_pixels) as img:
        fmt, info = img.format or "", _info(img)
    whole = _WHOLE.get(fmt)
    if whole is None:  # no cheap integrity mark: decoding is the check, so thumbnail it now
        return prepare(data, router, model, max_pixels)
    if not whole(data):
        raise BadImageError(
            "returned an image that is cut short or damaged", router=router, model=model
        )
    return Prepared(info, NO_PREVIEW)


def preview(data: bytes, router: str = "", model: str = "", max_pixels: int = MAX_PIXELS) -> bytes:
    """The grid's JPEG thumbnail of `data`, decoding it once (BadImageError if it does not)."""
    return prepare(data, router, model, max_pixels).thumb


def _png_whole(data: bytes) -> bool:
    # Walk the chunks (no inflate): each one's CRC must match, and IEND must come.
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        end = pos + 12 + length
        if end > len(data):
            return False
        body = memoryview(data)[pos + 4 : end - 4]  # chunk type and data
        if zlib.crc32(body) != struct.unpack_from(">I", data, end - 4)[0]:
            return False
        if data[pos + 4 : pos + 8] == b"IEND":
            return True
        pos = end
    return False


def _jpeg_whole(data: bytes) -> bool:
    return _JPEG_EOI in data[-_JPEG_TAIL:]


def _webp_whole(data: bytes) -> bool:
    # RIFF's size field counts every byte after the first eight.
    return len(data) >= 12 and 8 + struct.unpack_from("<I", data, 4)[0] <= len(data)


def _gif_whole(data: bytes) -> bool:
    return data.rstrip(b"\x00").endswith(b"\x3b")


_WHOLE = {"PNG": _png_whole, "JPEG": _jpeg_whole, "WEBP": _webp_whole, "GIF": _gif_whole}


def _rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        canvas = Image.new("RGB", img.size, (255, 255, 255))
        canvas.paste(img, mask=img.split()[-1])
        return canvas
    return img.convert("RGB")


def _thumb(img: Image.Image, side: int) -> bytes:
    img = _rgb(img)
    # reduce() first: integer downscaling is cheap, and LANCZOS then works on fewer pixels.
    factor = max(1, min(img.width, img.height) // side // 2) if max(img.size) > side else 1
    if factor > 1:
        img = img.reduce(factor)
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


def square(thumb: bytes, side: int = SQUARE_SIDE) -> bytes:
    """A thumbnail centred on a square, neutral canvas: every image the same shape.

    Blind review shows these, because an aspect ratio a model always uses would name it.
    """
    with Image.open(io.BytesIO(thumb)) as src:
        img = _rgb(src)
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (side, side), (238, 238, 238))
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=85)
    return out.getvalue()


def fit(data: bytes, side: int) -> tuple[bytes, str]:
    """`data` for a screen (bytes, MIME type): as it is when its long side is at most `side`
    and a browser shows its format, else a JPEG scaled down to `side`."""
    with Image.open(io.BytesIO(data)) as img:
        mime = _MIME.get(img.format or "")
        if mime and max(img.size) <= side:
            return data, mime
        img.load()
        return _thumb(img, side), "image/jpeg"


def _png_pixels_only(data: bytes) -> bytes | None:
    """A PNG with only its pixel chunks, copied byte for byte (no decode); None if not a
    well-formed PNG."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kept = [_PNG_SIGNATURE]
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, end = data[pos + 4 : pos + 8], pos + 12 + length
        if end > len(data):
            return None
        if kind in _PNG_PIXEL_CHUNKS:
            kept.append(data[pos:end])
        if kind == b"IEND":
            return b"".join(kept)
        pos = end
    return None


def strip_metadata(data: bytes) -> bytes:
    """The same pixels as PNG without text chunks, EXIF or ICC profile (for blind review).

    A PNG keeps its pixel chunks byte for byte, so showing a blind original does not decode
    it; any other format is decoded and re-encoded once.
    """
    clean_png = _png_pixels_only(data)
    if clean_png is not None:
        return clean_png
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        clean = Image.new(img.mode, img.size)
        clean.putdata(list(img.getdata())) if img.mode == "P" else clean.paste(img)
        palette = img.getpalette() if img.mode == "P" else None
        if palette:
            clean.putpalette(palette)
        out = io.BytesIO()
        clean.save(out, format="PNG")
        return out.getvalue()
