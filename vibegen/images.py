"""Image bytes: check they decode, make thumbnails, strip metadata that could identify a model."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from vibegen.errors import BadImageError

THUMB_SIDE = 512
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
def _decoded(data: bytes, router: str, model: str) -> Iterator[tuple[Image.Image, ImageInfo]]:
    # Decode fully (load), so a truncated or corrupt file fails here and not later.
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt = img.format or ""
            yield img, ImageInfo(_MIME.get(fmt, f"image/{fmt.lower() or 'unknown'}"), *img.size)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImageError("returned bytes that are not a readable image",
                            router=router, model=model) from exc


def inspect(data: bytes, router: str = "", model: str = "") -> ImageInfo:
    """Decode `data` fully; BadImageError if it is not an image we can show."""
    with _decoded(data, router, model) as (_, info):
        return info


def prepare(data: bytes, router: str = "", model: str = "") -> Prepared:
    """Decode `data` once: BadImageError if unreadable, else its info and JPEG thumbnail."""
    with _decoded(data, router, model) as (img, info):
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


def strip_metadata(data: bytes) -> bytes:
    """The same pixels re-encoded as PNG without text chunks or EXIF (for blind review)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        clean = Image.new(img.mode, img.size)
        clean.putdata(list(img.getdata())) if img.mode == "P" else clean.paste(img)
        if img.mode == "P" and img.getpalette():
            clean.putpalette(img.getpalette())
        out = io.BytesIO()
        clean.save(out, format="PNG")
        return out.getvalue()
