"""Redacted copies: faces and regions anonymised, sound muted, no metadata left."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from mediagen import (
    audio_samples,
    encoded,
    make_audio,
    make_video,
    photo,
    png_header,
    video_frames,
)
from sahid.errors import InputError
from sahid.media.faces import Box, detect_faces, detect_faces_array
from sahid.media.redact import PIXEL_LIMIT, Operation, redact_image
from sahid.media.thumbs import image_thumbnail, video_keyframes
from sahid.media.video import mute_audio, redact_video

EXIFTOOL = shutil.which("exiftool")
WITH_FACES = ["astronaut", "camera"]
WITHOUT_FACES = ["coffee", "chelsea", "rocket"]


def _no_floats(value: Any) -> bool:
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(_no_floats(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_no_floats(v) for v in value)
    return True


def _exif_with_secrets() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SecretMake"  # Make
    exif[0x0110] = "SecretModel"  # Model
    exif[0x0131] = "SecretSoftware"
    exif.get_ifd(0x8769)[0xA431] = "SN-1234567"  # BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (40.0, 24.0, 35.0)
    gps[3] = "E"
    gps[4] = (49.0, 52.0, 1.0)
    return exif


# ---------------------------------------------------------------------------------------
# detection


@pytest.mark.parametrize("name", WITH_FACES)
def test_faces_found_in_sample_photos(name: str) -> None:
    boxes = detect_faces(photo(name))
    assert len(boxes) == 1
    box = boxes[0]
    assert isinstance(box, Box)
    assert box.w > 40 and box.h > 40 and 0.9 < box.score <= 1


@pytest.mark.parametrize("name", WITHOUT_FACES)
def test_no_false_faces(name: str) -> None:
    assert detect_faces(photo(name)) == []


def test_detection_is_deterministic_and_scales_back() -> None:
    image = photo("astronaut")
    assert detect_faces(image) == detect_faces(image)
    (small,) = detect_faces(image)
    big = image.resize((2048, 2048))
    (large,) = detect_faces(big)  # detected at 1600 px, boxes scaled back to 2048
    assert abs(large.x - small.x * 4) < 40 and abs(large.w - small.w * 4) < 60


def test_detect_array_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError):
        detect_faces_array(np.zeros((10, 10), dtype=np.uint8))
    assert detect_faces_array(np.zeros((8, 8, 3), dtype=np.uint8)) == []


# ---------------------------------------------------------------------------------------
# images


def _outside(ops: list[Operation], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    mask = np.ones(shape[:2], dtype=bool)
    for op in ops:
        assert op.box is not None
        x, y, w, h = op.box
        mask[y : y + h, x : x + w] = False
    return mask


@pytest.mark.parametrize("name", WITH_FACES)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_faces_redacted(name: str, fmt: str) -> None:
    original = photo(name)
    src = encoded(original, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    before = np.asarray(Image.open(io.BytesIO(src)).convert("RGB"), dtype=np.int16)
    out = io.BytesIO()
    ops = redact_image(src, out, faces=True)
    assert ops and all(op.kind == "face" for op in ops)
    result = Image.open(io.BytesIO(out.getvalue()))
    assert result.format == fmt
    assert result.size == original.size
    assert detect_faces(result) == []
    after = np.asarray(result.convert("RGB"), dtype=np.int16)
    mask = _outside(ops, after.shape)
    diff = np.abs(after - before)[mask]
    if fmt == "JPEG":
        assert diff.mean() < 2.5
    else:
        assert diff.max() == 0
    inside = ~mask
    assert np.abs(after - before)[inside].mean() > 10  # the faces really changed


def test_redacted_face_is_coarse() -> None:
    out = io.BytesIO()
    (op,) = redact_image(encoded(photo("astronaut"), "PNG"), out, faces=True)
    assert op.box is not None
    x, y, w, h = op.box
    area = np.asarray(Image.open(out).convert("L"), dtype=np.float64)[y : y + h, x : x + w]
    # no fine detail left: neighbouring pixels differ by very little
    assert np.abs(np.diff(area, axis=1)).mean() < 2
    assert np.abs(np.diff(area, axis=0)).mean() < 2


def test_manual_region_anonymised() -> None:
    image = photo("astronaut")
    region = (300, 250, 150, 120)  # the flag and the suit: lots of detail
    out = io.BytesIO()
    ops = redact_image(encoded(image, "PNG"), out, faces=False, regions=[region])
    assert ops == [Operation("region", region)]
    x, y, w, h = region
    before = np.asarray(image.convert("L"), dtype=np.float64)[y : y + h, x : x + w]
    after = np.asarray(Image.open(out).convert("L"), dtype=np.float64)[y : y + h, x : x + w]
    assert np.diff(after, axis=1).var() < np.diff(before, axis=1).var() / 20
    assert after.var() < before.var() / 2


def test_regions_are_clipped_and_checked() -> None:
    src = encoded(photo("coffee"), "PNG")  # 600×400
    ops = redact_image(src, io.BytesIO(), faces=False, regions=[(550, 350, 100, 100)])
    assert ops[0].box == (550, 350, 50, 50)
    with pytest.raises(InputError, match="outside"):
        redact_image(src, io.BytesIO(), faces=False, regions=[(700, 10, 20, 20)])
    with pytest.raises(InputError, match="no area"):
        redact_image(src, io.BytesIO(), faces=False, regions=[(10, 10, 0, 20)])


def test_operations_json_has_no_floats() -> None:
    out = io.BytesIO()
    ops = redact_image(encoded(photo("astronaut")), out, faces=True, regions=[(0, 0, 10, 10)])
    as_json = [op.as_json() for op in ops]
    assert _no_floats(as_json)
    json.dumps(as_json)
    assert as_json[-1] == {"kind": "region", "box": {"x": 0, "y": 0, "w": 10, "h": 10}}
    mute = Operation("mute", None, 500, 1000).as_json()
    assert mute == {"kind": "mute", "start_ms": 500, "end_ms": 1000}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_no_metadata_left(tmp_path: Path, fmt: str) -> None:
    image = photo("astronaut")
    src = encoded(
        image,
        fmt,
        exif=_exif_with_secrets(),
        icc_profile=b"",
        **({"xmp": b"<x:xmpmeta>SecretXMP</x:xmpmeta>"} if fmt != "PNG" else {}),
    )
    assert Image.open(io.BytesIO(src)).getexif().get(0x010F) == "SecretMake"
    out = io.BytesIO()
    redact_image(io.BytesIO(src), out, faces=True)
    data = out.getvalue()
    result = Image.open(io.BytesIO(data))
    assert dict(result.getexif()) == {}
    assert not {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp"} & set(result.info)
    for secret in (b"Secret", b"SN-1234567", b"Exif\x00\x00"):
        assert secret not in data
    if EXIFTOOL:
        path = tmp_path / f"out.{fmt.lower()}"
        path.write_bytes(data)
        proc = subprocess.run(
            [EXIFTOOL, "-j", "-a", "-G1", str(path)], capture_output=True, check=True
        )
        (tags,) = json.loads(proc.stdout)
        text = json.dumps(tags)
        for word in ("GPS", "Make", "Model", "Serial", "Software", "XMP", "ICC"):
            assert word not in text, (word, tags)


def test_exif_orientation_applied() -> None:
    upright = photo("astronaut")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # lying on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    src = encoded(stored, "JPEG", exif=exif, quality=95)
    assert detect_faces(stored) == []  # the detector needs the picture upright
    out = io.BytesIO()
    ops = redact_image(src, out, faces=True)
    assert [op.kind for op in ops] == ["face"]
    result = Image.open(io.BytesIO(out.getvalue()))
    assert result.size == upright.size
    assert 0x0112 not in result.getexif()
    assert detect_faces(result) == []


def test_png_with_alpha_and_palette() -> None:
    rgba = photo("astronaut").convert("RGBA")
    out = io.BytesIO()
    redact_image(encoded(rgba, "PNG"), out, faces=True)
    result = Image.open(out)
    assert result.mode == "RGBA" and detect_faces(result) == []
    palette = photo("astronaut").convert("P", palette=Image.Palette.ADAPTIVE)
    out = io.BytesIO()
    assert redact_image(encoded(palette, "GIF"), out, faces=True)
    assert Image.open(out).format == "PNG"


@pytest.mark.parametrize("fmt", ["HEIC", "TIFF"])
def test_other_formats_become_png(fmt: str) -> None:
    image = photo("astronaut")
    if fmt == "HEIC":
        import pillow_heif

        buf = io.BytesIO()
        pillow_heif.from_pillow(image).save(buf, quality=90, exif=_exif_with_secrets().tobytes())
        src = buf.getvalue()
    else:
        src = encoded(image, "TIFF", exif=_exif_with_secrets())
    assert b"SecretMake" in src
    out = io.BytesIO()
    assert [op.kind for op in redact_image(src, out, faces=True)] == ["face"]
    result = Image.open(io.BytesIO(out.getvalue()))
    assert result.format == "PNG" and detect_faces(result) == []
    assert b"Secret" not in out.getvalue()


def _deep(kind: str) -> bytes:
    """The astronaut in greyscale with more than 8 bits a sample (as scientific cameras,
    scanners and raw converters write them)."""
    grey = np.asarray(photo("astronaut").convert("L"), dtype=np.float64)
    if kind == "png16":
        return encoded(Image.fromarray((grey * 257).astype(np.uint16)), "PNG")
    if kind == "tiff16":
        return encoded(Image.fromarray((grey * 257).astype(np.uint16)), "TIFF")
    if kind == "tiff-float":
        return encoded(Image.fromarray((grey / 255).astype(np.float32)), "TIFF")
    return encoded(Image.fromarray((grey * 257).astype(np.int32)), "TIFF")  # mode I


@pytest.mark.parametrize("kind", ["png16", "tiff16", "tiff-float", "tiff32"])
def test_deep_pictures_scaled_not_clipped(kind: str) -> None:
    """Regression: a 16-bit PNG (mode I;16) was clipped to almost white, no face found."""
    src = _deep(kind)
    opened = Image.open(io.BytesIO(src))
    assert opened.mode in ("I;16", "F", "I")
    grey = np.asarray(photo("astronaut").convert("L"), dtype=np.float64)
    out = io.BytesIO()
    ops = redact_image(src, out, faces=True, name="astro16.png")
    assert [op.kind for op in ops] == ["face"]
    result = Image.open(io.BytesIO(out.getvalue()))
    assert result.format == "PNG" and result.mode == "L"
    after = np.asarray(result, dtype=np.float64)
    mask = _outside(ops, after.shape)
    assert np.abs(after - grey)[mask].max() <= 1  # the same picture, in 8 bits
    assert np.abs(after - grey)[~mask].mean() > 10  # the face really changed
    assert detect_faces(result) == []
    assert len(detect_faces(opened)) == 1  # the detector itself scales, too
    thumb = Image.open(io.BytesIO(image_thumbnail(src)))
    assert abs(np.asarray(thumb, dtype=np.float64).mean() - grey.mean()) < 3


@pytest.mark.parametrize("size", [(11_000, 10_000), (20_000, 20_000)])
def test_decompression_bomb_refused(size: tuple[int, int]) -> None:
    assert size[0] * size[1] > PIXEL_LIMIT
    with pytest.raises(InputError) as info:
        redact_image(png_header(*size), io.BytesIO(), faces=True, name="bomb.png")
    message = info.value.message
    assert f"image is {size[0]}×{size[1]} pixels, over the limit of 100 megapixels" in message
    assert message.startswith("bomb.png") and "\n" not in message
    with pytest.raises(InputError, match="over the limit"):
        image_thumbnail(png_header(*size))


def test_truncated_and_garbage_images() -> None:
    data = encoded(photo("astronaut"), "JPEG")
    with pytest.raises(InputError, match=r"truncated\.jpg is truncated or damaged"):
        redact_image(data[: len(data) // 2], io.BytesIO(), faces=True, name="truncated.jpg")
    with pytest.raises(InputError, match="not a picture"):
        redact_image(b"hello, not an image", io.BytesIO(), faces=True, name="note.txt")
    with pytest.raises(InputError, match="empty"):
        redact_image(b"", io.BytesIO(), faces=True)
    png = encoded(photo("coffee"), "PNG")
    with pytest.raises(InputError):
        redact_image(png[: len(png) // 3], io.BytesIO(), faces=False)


# ---------------------------------------------------------------------------------------
# video and audio


@pytest.fixture(scope="module")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "in.mp4")


def test_video_faces_blurred_and_sound_muted(sample_video: Path, tmp_path: Path) -> None:
    frames_in = video_frames(sample_video, every=4)
    assert all(detect_faces_array(f) for f in frames_in)  # the face is there to begin with
    dst = tmp_path / "out.mp4"
    calls: list[tuple[int, int]] = []
    ops = redact_video(
        sample_video,
        dst,
        faces=True,
        mute=[(500, 1000)],
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1][0] == 20 and all(d <= t for d, t in calls)
    kinds = {op.kind for op in ops}
    assert kinds == {"face", "mute"}
    assert Operation("mute", None, 500, 1000) in ops
    assert _no_floats([op.as_json() for op in ops])

    with av.open(str(dst)) as out:
        assert out.format.name.startswith("mov,mp4")
        assert out.streams.video[0].codec_context.name == "h264"
        assert out.streams.audio[0].codec_context.name == "aac"
        meta = dict(out.metadata)
        assert not {
            "creation_time",
            "encoder",
            "location",
            "com.apple.quicktime.location.ISO6709",
        } & set(meta)
        for stream in out.streams:
            assert "creation_time" not in stream.metadata
        assert out.streams.video[0].frames == 20
    frames_out = video_frames(dst)
    assert len(frames_out) == 20
    assert [i for i, f in enumerate(frames_out) if detect_faces_array(f)] == []

    samples, rate = audio_samples(dst)
    assert len(samples) >= 1.9 * rate
    ms = rate // 1000
    assert np.abs(samples[550 * ms : 950 * ms]).max() < 0.01
    assert np.abs(samples[100 * ms : 400 * ms]).max() > 0.3
    assert np.abs(samples[1100 * ms : 1900 * ms]).max() > 0.3


def test_video_copies_audio_and_paints_regions(sample_video: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    ops = redact_video(sample_video, dst, faces=False, regions=[(0, 0, 100, 80)])
    assert ops == [Operation("region", (0, 0, 100, 80), 0, 1900)]
    with av.open(str(dst)) as out, av.open(str(sample_video)) as inp:
        src_audio = [bytes(p) for p in inp.demux(audio=0) if p.size]
        out_audio = [bytes(p) for p in out.demux(audio=0) if p.size]
        assert out_audio == src_audio  # copied, not re-encoded
    frames = video_frames(dst)
    assert any(detect_faces_array(f) for f in frames)  # faces=False leaves faces alone


def test_video_without_sound(tmp_path: Path) -> None:
    src = make_video(tmp_path / "silent.mp4", audio=False, seconds=1)
    dst = tmp_path / "out.mp4"
    ops = redact_video(src, dst, faces=True)
    assert ops and {op.kind for op in ops} == {"face"}
    with av.open(str(dst)) as out:
        assert not out.streams.audio
    with pytest.raises(InputError, match="no sound to mute"):
        redact_video(src, tmp_path / "x.mp4", faces=True, mute=[(0, 100)])
    assert not (tmp_path / "x.mp4").exists()


def test_video_odd_size_other_codec(tmp_path: Path) -> None:
    src = make_video(
        tmp_path / "odd.mov",
        size=(321, 241),
        codec="png",
        pix_fmt="rgb24",
        container="mov",
        seconds=1,
        audio=False,
    )
    dst = tmp_path / "out.mp4"
    ops = redact_video(src, dst, faces=True, regions=[(300, 220, 50, 50)])
    assert ops[-1] == Operation("region", (300, 220, 21, 21), 0, 900)
    frames = video_frames(dst)
    assert len(frames) == 10 and frames[0].shape == (240, 320, 3)
    assert not any(detect_faces_array(f) for f in frames)


def test_portrait_video_turned_upright(tmp_path: Path) -> None:
    src = make_video(tmp_path / "portrait.mp4", size=(240, 320), sideways=True, seconds=1)
    with av.open(str(src)) as inp:
        first = next(inp.decode(video=0))
        assert first.rotation == -90 and (first.width, first.height) == (320, 240)
        assert detect_faces_array(first.to_ndarray(format="rgb24")) == []  # sideways
    dst = tmp_path / "out.mp4"
    ops = redact_video(src, dst, faces=True)
    assert any(op.kind == "face" for op in ops)  # found because frames were turned upright
    frames = video_frames(dst)
    assert frames[0].shape == (320, 240, 3)
    assert not any(detect_faces_array(f) for f in frames)
    for _, data in video_keyframes(src, count=2):
        assert Image.open(io.BytesIO(data)).size == (240, 320)


def test_video_bad_inputs(tmp_path: Path, sample_video: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.mp4 is empty"):
        redact_video(empty, tmp_path / "o1.mp4", faces=True)
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"this is not a video at all\n" * 40)
    with pytest.raises(InputError, match=r"notes\.mp4"):
        redact_video(text, tmp_path / "o2.mp4", faces=True)
    sound = make_audio(tmp_path / "sound.wav")
    with pytest.raises(InputError, match="no video stream"):
        redact_video(sound, tmp_path / "o3.mp4", faces=True)
    picture = tmp_path / "photo.jpg"
    picture.write_bytes(encoded(photo("coffee")))
    with pytest.raises(InputError):
        redact_video(picture, tmp_path / "o4.mp4", faces=True)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(sample_video.read_bytes()[:2000])
    with pytest.raises(InputError, match=r"cut\.mp4"):
        redact_video(truncated, tmp_path / "o5.mp4", faces=True)
    unknown = bytearray(sample_video.read_bytes())
    for box in (b"avc1", b"avcC"):  # a codec nobody knows
        at = unknown.index(box)
        unknown[at : at + 4] = b"zzz" + box[3:]
    (tmp_path / "unknown.mp4").write_bytes(bytes(unknown))
    with pytest.raises(InputError, match=r"unknown\.mp4"):
        redact_video(tmp_path / "unknown.mp4", tmp_path / "o8.mp4", faces=True)
    with pytest.raises(InputError, match="start < end"):
        redact_video(sample_video, tmp_path / "o6.mp4", faces=True, mute=[(900, 100)])
    with pytest.raises(InputError, match=r"missing\.mp4"):
        redact_video(tmp_path / "missing.mp4", tmp_path / "o7.mp4", faces=True)
    assert not any(tmp_path.glob("o*.mp4"))
    kept = tmp_path / "kept.mp4"
    kept.write_bytes(b"caller's file")
    with pytest.raises(InputError, match="no video stream"):
        redact_video(sound, kept, faces=True)
    assert kept.read_bytes() == b"caller's file"  # never opened for writing: left alone


def _trim_start(path: Path, seconds: float) -> None:
    """Make the first track's edit list skip ``seconds`` (as ``ffmpeg -ss … -c copy`` does):
    its frames stay in the file, the decoder drops them."""
    data = bytearray(path.read_bytes())
    at = data.index(b"elst")
    assert data[at + 4] == 0 and struct.unpack(">I", data[at + 8 : at + 12]) == (1,)
    segment, media_time = struct.unpack(">Ii", data[at + 12 : at + 20])
    with av.open(str(path)) as inp:
        time_base = inp.streams.video[0].time_base
    skip = int(seconds / time_base)
    struct.pack_into(">Ii", data, at + 12, segment - int(seconds * 1000), media_time + skip)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("mute", [[], [(500, 1000)]])
def test_truncated_video_refused(tmp_path: Path, mute: list[tuple[int, int]]) -> None:
    """Regression: a moov-first MP4 cut at 60 % gave a 14-frame copy of 30 frames, exit 0."""
    whole = make_video(tmp_path / "whole.mp4", seconds=3, faststart=True)
    data = whole.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    dst = tmp_path / "out.mp4"
    with pytest.raises(InputError, match=r"^evidence-7 is truncated or damaged \(") as info:
        redact_video(cut, dst, faces=True, mute=mute, name="evidence-7")
    assert "\n" not in info.value.message and "complete copy" in info.value.message
    assert not dst.exists()
    redact_video(whole, dst, faces=False)  # the whole file is fine
    assert len(video_frames(dst)) == 30


def test_video_cut_at_a_packet_boundary_refused(tmp_path: Path) -> None:
    """No partial packet to give it away: the index still lists frames that are not there."""
    whole = make_video(tmp_path / "whole.mp4", seconds=3, audio=False, faststart=True)
    with av.open(str(whole)) as inp:
        packets = [p for p in inp.demux(video=0) if p.size]
        end = packets[19].pos + packets[19].size  # the file ends after the 20th frame
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:end])
    with pytest.raises(InputError, match=r"only 20 of its 30 video frames are in the file"):
        redact_video(cut, tmp_path / "out.mp4", faces=False, name="cut")


def test_truncated_matroska_refused_by_its_duration(tmp_path: Path) -> None:
    whole = make_video(tmp_path / "whole.mkv", seconds=3, container="matroska")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    with pytest.raises(InputError, match=r"cut\.mkv is truncated or damaged \(it ends at 1\."):
        redact_video(cut, tmp_path / "out.mp4", faces=False)
    redact_video(whole, tmp_path / "whole.mp4", faces=False)


def test_trimmed_video_is_not_taken_for_truncated(tmp_path: Path) -> None:
    """An edit list that skips the first second keeps those frames in the file, undecoded."""
    src = make_video(tmp_path / "trimmed.mp4", seconds=3, audio=False)
    _trim_start(src, 1.0)
    dst = tmp_path / "out.mp4"
    redact_video(src, dst, faces=False)
    assert 18 <= len(video_frames(dst)) <= 21


def test_truncated_sound_refused(tmp_path: Path) -> None:
    whole = make_audio(tmp_path / "talk.wav", seconds=3)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10 + 1])
    with pytest.raises(InputError, match=r"^evidence-9 is truncated or damaged \(its data stops"):
        mute_audio(cut, tmp_path / "out.m4a", [(0, 500)], name="evidence-9")
    assert not (tmp_path / "out.m4a").exists()


def test_mute_audio(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "talk.wav")
    dst = tmp_path / "talk.m4a"
    ops = mute_audio(src, dst, [(500, 1000)])
    assert [op.as_json() for op in ops] == [{"kind": "mute", "start_ms": 500, "end_ms": 1000}]
    samples, rate = audio_samples(dst)
    ms = rate // 1000
    assert np.abs(samples[550 * ms : 950 * ms]).max() < 0.01
    assert np.abs(samples[100 * ms : 400 * ms]).max() > 0.3
    assert np.abs(samples[1100 * ms : 1900 * ms]).max() > 0.3
    with av.open(str(dst)) as out:
        assert out.streams.audio[0].codec_context.name == "aac"
        assert "creation_time" not in out.metadata
    picture = tmp_path / "photo.png"
    picture.write_bytes(encoded(photo("coffee"), "PNG"))
    with pytest.raises(InputError):
        mute_audio(picture, tmp_path / "o.m4a", [(0, 10)])


# ---------------------------------------------------------------------------------------
# thumbnails and keyframes


def _is_clean_jpeg(data: bytes, max_side: int) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    assert max(image.size) <= max_side
    assert dict(image.getexif()) == {}
    assert b"Exif" not in data and b"ICC_PROFILE" not in data and b"Secret" not in data
    return image


def test_image_thumbnail() -> None:
    src = encoded(photo("astronaut"), "JPEG", exif=_exif_with_secrets())
    thumb = _is_clean_jpeg(image_thumbnail(src), 320)
    assert thumb.size == (320, 320)
    small = _is_clean_jpeg(image_thumbnail(io.BytesIO(src), max_side=64), 64)
    assert small.size == (64, 64)
    wide = _is_clean_jpeg(image_thumbnail(encoded(photo("coffee").convert("RGBA"), "PNG")), 320)
    assert wide.size == (320, 213)
    with pytest.raises(InputError):
        image_thumbnail(b"nope")


def test_video_keyframes(sample_video: Path, tmp_path: Path) -> None:
    frames = video_keyframes(sample_video)
    assert len(frames) == 5
    times = [t for t, _ in frames]
    assert times == sorted(times) and times[0] < 400 and times[-1] > 1500
    for _, data in frames:
        image = _is_clean_jpeg(data, 320)
        assert image.size == (320, 240)
    small = video_keyframes(sample_video, count=2, max_side=100)
    assert len(small) == 2 and all(max(Image.open(io.BytesIO(d)).size) <= 100 for _, d in small)
    sound = make_audio(tmp_path / "sound.wav")
    with pytest.raises(InputError, match="no video stream"):
        video_keyframes(sound)


def test_truncated_pictures_are_refused_even_after_weasyprint_was_imported() -> None:
    """WeasyPrint turns on Pillow's LOAD_TRUNCATED_IMAGES when imported (found in CI)."""
    import weasyprint  # noqa: F401
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True
    data = encoded(photo("astronaut"), "JPEG")
    with pytest.raises(InputError, match=r"truncated\.jpg is truncated or damaged"):
        redact_image(data[: len(data) // 2], io.BytesIO(), faces=True, name="truncated.jpg")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
