"""Image bytes: check they decode, make thumbnails, strip metadata that could identify a model."""

from __future__ import annotations

import io
import warnings
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
    """An image checked and thumbnailed once, ready to save."""

    info: ImageInfo
    thumb: bytes


@contextmanager
def _decoded(
    data: bytes, router: str, model: str, max_pixels: int
) -> Iterator[tuple[Image.Image, ImageInfo]]:
    # Decode fully (load), so a truncated or corrupt file fails here and not later; but first
    # read the size from the header (Image.open decodes nothing) and refuse a pixel bomb.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img_cm = Image.open(io.BytesIO(data))
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
    width, height = img_cm.size
    if width * height > max_pixels:
        img_cm.close()
        raise ImageTooLargeError(
            f"the image is {width}×{height}, over the {max_pixels / 1e6:g} megapixel cap",
            router=router,
            model=model,
        )
    try:
        with img_cm as img:
            img.load()
            fmt = img.format or ""
            yield img, ImageInfo(_MIME.get(fmt, f"image/{fmt.lower() or 'unknown'}"), *img.size)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImageError(
            "returned bytes that are not a readable image", router=router, model=model
        ) from exc


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
