"""vibegen/images.py: the pixel cap is checked from the header before decoding, a router's
image is checked whole without decoding it (its preview made later), and a blind PNG is
stripped of metadata without being decoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from tests.fakes.http_fake import image_bytes, png_bad_pixels, png_header
from vibegen import images
from vibegen.errors import BadImageError, ImageTooLargeError


def test_an_image_over_the_pixel_cap_is_refused_before_decoding():
    # 10000×9000 in the header, a few bytes of pixels: decoding would fail, the cap answers.
    with pytest.raises(ImageTooLargeError) as info:
        images.prepare(png_header(10_000, 9_000), router="openai", model="openai:gpt-image-2")
    assert str(info.value) == "openai: the image is 10000×9000, over the 80 megapixel cap"
    assert info.value.kind == "bad_image"


def test_a_decompression_bomb_is_refused_in_words():
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        images.inspect(png_header(40_000, 40_000), max_pixels=10**12)


def test_the_cap_is_a_parameter():
    data = image_bytes(64, 48, "PNG")
    assert images.inspect(data, max_pixels=64 * 48).width == 64
    with pytest.raises(ImageTooLargeError):
        images.prepare(data, max_pixels=64 * 48 - 1)


def test_unreadable_bytes_are_still_a_bad_image():
    with pytest.raises(BadImageError) as info:
        images.prepare(b"not an image")
    assert type(info.value) is BadImageError


def _png_with_metadata() -> bytes:
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", "model: flux-2-pro, seed 5")
    meta.add_text("Software", "fal.ai")
    buf = io.BytesIO()
    Image.new("RGBA", (40, 30), (10, 200, 30, 128)).save(buf, "PNG", pnginfo=meta)
    return buf.getvalue()


def test_strip_metadata_keeps_a_pngs_pixels_and_drops_its_text():
    data = _png_with_metadata()
    clean = images.strip_metadata(data)
    assert b"flux-2-pro" not in clean and b"fal.ai" not in clean and b"tEXt" not in clean
    with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(clean)) as b:
        assert a.size == b.size and a.mode == b.mode
        assert a.tobytes() == b.tobytes()
        assert not b.info.get("parameters")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_strip_metadata_does_not_decode_a_png():
    # The header claims 90 MP: a decode would allocate ~270 MB and then fail on the tiny
    # IDAT, so getting the image back at its claimed size shows the chunks were copied, not
    # decoded. (How fast: benchmarks/bench_timings.py.)
    clean = images.strip_metadata(png_header(10_000, 9_000))
    with Image.open(io.BytesIO(clean)) as img:
        assert img.size == (10_000, 9_000)


def test_strip_metadata_re_encodes_other_formats_as_png():
    clean = images.strip_metadata(image_bytes(32, 24, "JPEG"))
    assert clean.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(clean)) as img:
        assert img.size == (32, 24)


@pytest.mark.parametrize(
    ("size", "thumb"),
    [
        ((1024, 1024), (768, 768)),
        ((1536, 1024), (768, 512)),
        ((768, 1344), (439, 768)),
        ((600, 400), (600, 400)),
    ],
)
def test_the_preview_stays_sharp_in_a_two_column_grid(size, thumb):
    # Two columns at 1440 px make a cell about 700 px wide: the preview's long side is 768,
    # and a smaller image is never blown up.
    prepared = images.prepare(image_bytes(*size, "PNG"))
    with Image.open(io.BytesIO(prepared.thumb)) as img:
        assert img.format == "JPEG" and img.size == thumb


def test_the_blind_square_keeps_its_own_size():
    prepared = images.prepare(image_bytes(1536, 1024, "PNG"))
    with Image.open(io.BytesIO(images.square(prepared.thumb))) as img:
        assert img.size == (512, 512)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_checked_reads_the_size_and_leaves_the_preview_for_later(fmt):
    prepared = images.checked(image_bytes(64, 48, fmt))
    assert (prepared.info.width, prepared.info.height) == (64, 48)
    assert prepared.info.mime == f"image/{fmt.lower()}"
    assert prepared.thumb == images.NO_PREVIEW


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF"])
def test_checked_refuses_an_image_cut_short(fmt):
    data = image_bytes(64, 48, fmt)
    with pytest.raises(BadImageError, match="cut short or damaged") as info:
        images.checked(data[:-20], router="fal", model="fal:flux")
    assert str(info.value).startswith("fal: ")


def test_checked_refuses_a_png_whose_bytes_changed_in_transit():
    data = bytearray(image_bytes(64, 48, "PNG"))
    data[len(data) // 2] ^= 0x01  # one bit, inside the IDAT: its CRC no longer matches
    with pytest.raises(BadImageError, match="cut short or damaged"):
        images.checked(bytes(data))


def test_checked_keeps_the_pixel_cap_and_the_words_for_garbage():
    with pytest.raises(ImageTooLargeError, match="over the 80 megapixel cap"):
        images.checked(png_header(10_000, 9_000))
    with pytest.raises(BadImageError, match="not a readable image"):
        images.checked(b"\x89PNG\r\n\x1a\nthis is not really a png")


def test_checked_decodes_and_thumbnails_a_format_without_integrity_marks():
    prepared = images.checked(image_bytes(64, 48, "BMP"))
    assert prepared.info.mime == "image/bmp" and prepared.thumb[:2] == b"\xff\xd8"


def test_a_whole_image_whose_pixels_do_not_decode_passes_checked_but_not_preview():
    data = png_bad_pixels()
    assert images.checked(data).info.width == 64
    with pytest.raises(BadImageError, match="not a readable image"):
        images.preview(data)
