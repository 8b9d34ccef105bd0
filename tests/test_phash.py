"""Perceptual hashes: copies of a photo stay close, different photos stay far apart."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from mediagen import encoded, make_video, photo
from sahid.errors import InputError
from sahid.media.phash import WINDOWS, hamming, image_hashes, phash, similar, video_hashes

PHOTOS = ["astronaut", "coffee", "chelsea", "camera"]
#: Sample photos that have nothing to do with each other (chelsea is also "cat").
UNRELATED = [
    *PHOTOS,
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "moon",
    "coins",
    "clock",
    "brick",
    "grass",
]


def _variants(image: Image.Image) -> dict[str, Image.Image]:
    width, height = image.size
    return {
        "jpeg q30": Image.open(io.BytesIO(encoded(image.convert("RGB"), "JPEG", quality=30))),
        "half size": image.resize((width // 2, height // 2), Image.Resampling.BILINEAR),
        "brighter": ImageEnhance.Brightness(image).enhance(1.15),
    }


def _cropped(image: Image.Image, share: float = 0.1) -> Image.Image:
    width, height = image.size
    dx, dy = round(width * share), round(height * share)
    return image.crop((dx, dy, width - dx, height - dy))


@pytest.mark.parametrize("name", PHOTOS)
def test_copies_stay_close(name: str) -> None:
    original = photo(name)
    h = phash(original)
    for label, variant in _variants(original).items():
        assert hamming(h, phash(variant)) <= 10, label


@pytest.mark.parametrize("name", PHOTOS)
def test_crops_found_through_image_hashes(name: str) -> None:
    original = photo(name)
    cropped = _cropped(original)
    # a plain pHash does not survive a 10 % crop on every side ...
    assert hamming(phash(original), phash(cropped)) > 10
    # ... the window hashes do, in both directions
    candidates = {"original": image_hashes(original)}
    found = similar(image_hashes(cropped), candidates)
    assert [key for key, _ in found] == ["original"] and found[0][1] <= 4
    assert similar(image_hashes(original), {"copy": image_hashes(cropped)})[0][1] <= 10
    every = _cropped(
        ImageEnhance.Brightness(
            original.resize((original.width // 2, original.height // 2))
        ).enhance(1.1)
    )
    assert similar(image_hashes(every), candidates)[0][1] <= 10


def test_different_photos_far_apart() -> None:
    sets = {name: image_hashes(photo(name)) for name in UNRELATED}
    for a, b in itertools.combinations(UNRELATED, 2):
        assert hamming(sets[a][0], sets[b][0]) > 16, (a, b)
        # all windows of one against all of the other: still not a near-duplicate
        assert similar(sets[a], {b: sets[b]}) == [], (a, b)


def _crop(image: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    width, height = image.size
    return image.crop(
        (
            round(width * left),
            round(height * top),
            round(width * (1 - right)),
            round(height * (1 - bottom)),
        )
    )


#: (left, top, right, bottom) shares cut off; none of them is one of WINDOWS exactly.
ONE_SIDE = {
    f"{side} {share:.0%}": tuple(share if i == k else 0.0 for i in range(4))
    for k, side in enumerate(["left", "top", "right", "bottom"])
    for share in (0.06, 0.13, 0.2, 0.25)
}
CORNERS = {
    f"{corner} {share:.0%}": tuple(share if i in sides else 0.0 for i in range(4))
    for corner, sides in {
        "top-left": (0, 1),
        "top-right": (1, 2),
        "bottom-right": (2, 3),
        "bottom-left": (0, 3),
    }.items()
    for share in (0.1, 0.15, 0.22)
}
OFF_CENTRE = {
    "off centre": (0.05, 0.15, 0.15, 0.05),
    "off centre 2": (0.15, 0.02, 0.05, 0.18),
    "right strip and bottom": (0.0, 0.0, 0.21, 0.12),
}


@pytest.mark.parametrize("name", PHOTOS)
def test_one_side_corner_and_off_centre_crops_found(name: str) -> None:
    """Regression: a 20 % one-side crop (24 bits) and an off-centre crop (18) were missed
    at the default --max-distance 10, farther than an unrelated photo (22)."""
    original = photo(name)
    stored = {"original": image_hashes(original)}
    for label, cuts in {**ONE_SIDE, **CORNERS, **OFF_CENTRE}.items():
        assert cuts not in WINDOWS
        cropped = _crop(original, *cuts)
        copy = Image.open(io.BytesIO(encoded(cropped.convert("RGB"), "JPEG", quality=80)))
        # found whichever of the two is in the archive
        assert similar(image_hashes(copy), stored) != [], label
        assert similar(image_hashes(original), {"copy": image_hashes(copy)}) != [], label
    others = {o: image_hashes(photo(o)) for o in UNRELATED if o != name}
    cut = image_hashes(_crop(original, 0.0, 0.0, 0.2, 0.0))
    assert [key for key, _ in similar(cut, {**stored, **others})] == ["original"]


def test_hash_is_64_bit_and_deterministic() -> None:
    image = photo("astronaut")
    h = phash(image)
    assert 0 <= h < 2**64 and h == phash(image.copy())
    assert phash(image.convert("L")) == phash(image.convert("L").convert("RGB"))
    assert 20 < bin(h).count("1") < 44  # median split: about half the bits set
    assert len(image_hashes(image)) == 1 + len(WINDOWS) and image_hashes(image)[0] == h
    assert len(WINDOWS) == len(set(WINDOWS)) == 100 and WINDOWS[0] == (0, 0, 1, 1)
    assert image_hashes(Image.new("RGB", (6, 6))) == [phash(Image.new("RGB", (6, 6)))]


def test_deep_pictures_hash_like_their_8_bit_copy() -> None:
    grey = np.asarray(photo("astronaut").convert("L"), dtype=np.uint16)
    deep = Image.fromarray(grey * 257)
    assert deep.mode == "I;16"
    assert hamming(phash(deep), phash(photo("astronaut").convert("L"))) <= 2


def test_hamming_and_similar() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0, 2**64 - 1) == 64
    assert hamming(0b1011, 0b0001) == 2
    candidates = {"b": [0b111], "a": [0b1, 2**63], "c": [2**64 - 1], "empty": []}
    assert similar(0, candidates, max_distance=3) == [("a", 1), ("b", 3)]
    assert similar([2**64 - 1, 0], candidates, max_distance=1) == [("a", 1), ("c", 0)][::-1]
    assert similar(0, {}) == []


def test_video_hashes(tmp_path: Path) -> None:
    src = make_video(tmp_path / "a.mp4", seconds=2, audio=False)
    hashes = video_hashes(src)
    assert len(hashes) == 5 and hashes == video_hashes(src)
    # the same video re-encoded smaller is found; a different one is not
    smaller = tmp_path / "small.mp4"
    with av.open(str(src)) as inp, av.open(str(smaller), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height = 160, 120
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "35"}
        for frame in inp.decode(video=0):
            small = frame.reformat(width=160, height=120, format="yuv420p")
            small.pts = frame.pts
            small.time_base = frame.time_base
            for packet in stream.encode(small):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    other = make_video(tmp_path / "b.mp4", seconds=2, audio=False, face=False)
    found = similar(video_hashes(smaller), {"a": hashes, "b": video_hashes(other)})
    assert found[0][0] == "a" and found[0][1] <= 10
    assert [key for key, _ in found] == ["a"]
    assert len(video_hashes(src, count=2)) == 2
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        video_hashes(empty)
