"""Media protection on archive evidence (issue 6): redact, thumbs, similar, jobs."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from sahid.errors import InputError
from sahid.media.faces import detect_faces
from sahid.protect import (
    derived_from,
    find_similar,
    list_thumbnails,
    make_thumbnails,
    read_thumbnail,
    redact,
    run_job,
)

skdata = pytest.importorskip("skimage.data")


def _jpeg(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", **kw)
    return buf.getvalue()


def _with_gps(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PLANTED-MAKE"
    exif.get_ifd(0x8825)[1] = "N"
    exif.get_ifd(0x8825)[2] = (39.0, 52.0, 16.0)
    exif.get_ifd(0x8769)[0xA431] = "PLANTED-SERIAL"
    return _jpeg(image, quality=92, exif=exif)


@pytest.fixture
def photos(make_archive, tmp_path):
    arc = make_archive()
    astronaut = Image.fromarray(skdata.astronaut())
    files = {
        "astronaut.jpg": _with_gps(astronaut),
        "astronaut-small.jpg": _jpeg(astronaut.resize((256, 256)), quality=40),
        "coffee.jpg": _jpeg(Image.fromarray(skdata.coffee())),
    }
    ids = {}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        (res,) = arc.add([path], source="test")
        ids[name] = res.evidence
    return arc, ids


def test_redacted_copy_is_new_evidence_with_a_ledger_link(photos, tmp_path):
    arc, ids = photos
    original = ids["astronaut.jpg"]
    before = arc.evidence(original)
    done = redact(arc, original, faces=True, regions=[(0, 0, 40, 40)])
    assert done["faces"] >= 1 and done["copy"] != original
    # The original is untouched; the copy is stored, linked, clean and face-free.
    assert arc.evidence(original)["sha256"] == before["sha256"]
    out = tmp_path / "copy.jpg"
    arc.get(done["copy"], out)
    copy = Image.open(out)
    assert not copy.getexif() and "exif" not in copy.info
    assert b"PLANTED" not in out.read_bytes()
    assert detect_faces(copy) == []
    assert arc.evidence(done["copy"])["name"] == f"redacted-{original}.jpg"
    (link,) = derived_from(arc, done["copy"])
    assert link["original"] == original and link["operations"] == done["operations"]
    entries = [arc.entry(i) for i in range(arc.size)]
    made = [e for e in entries if e.kind == "redaction.made"]
    assert made[0].body["original_sha256"] == before["sha256"]
    assert made[0].body["copy_sha256"] == done["copy_sha256"]
    arc.verify()


def test_thumbnails_are_stored_encrypted_and_not_orphans(photos):
    arc, ids = photos
    made = make_thumbnails(arc, ids["astronaut.jpg"])
    assert len(made) == 1 and list_thumbnails(arc, ids["astronaut.jpg"]) == made
    jpeg = read_thumbnail(arc, made[0]["blob"])
    assert Image.open(io.BytesIO(jpeg)).size[0] <= 320
    blob_file = arc.blobs.path(made[0]["blob"])
    assert blob_file.read_bytes().startswith(b"age-encryption.org/v1")
    assert jpeg[:200] not in blob_file.read_bytes()
    assert arc.gc() == []  # thumbnails are known blobs
    assert make_thumbnails(arc, ids["astronaut.jpg"]) == made  # made once


def test_similar_finds_the_resized_copy_not_the_other_photo(photos):
    arc, ids = photos
    found = find_similar(arc, ids["astronaut.jpg"])
    assert [f["evidence"] for f in found["similar"]] == [ids["astronaut-small.jpg"]]
    assert found["skipped"] == [] and found["evidence"] == ids["astronaut.jpg"]
    assert json.dumps(found)


def test_similar_finds_a_one_side_crop(photos, tmp_path):
    arc, ids = photos
    astronaut = Image.fromarray(skdata.astronaut())
    (tmp_path / "cropped.jpg").write_bytes(_jpeg(astronaut.crop((0, 0, 410, 512)), quality=75))
    (res,) = arc.add([tmp_path / "cropped.jpg"])
    found = find_similar(arc, ids["astronaut.jpg"])
    assert {f["evidence"] for f in found["similar"]} == {res.evidence, ids["astronaut-small.jpg"]}
    assert [f["evidence"] for f in find_similar(arc, ids["coffee.jpg"])["similar"]] == []


def test_similar_skips_damaged_and_oversized_pictures(photos, tmp_path):
    """Regression: a truncated JPEG or a 30000×30000 PNG in the archive crashed `similar`."""
    from mediagen import make_audio, png_header

    arc, ids = photos
    whole = _jpeg(Image.fromarray(skdata.chelsea()))
    bad = {
        "cut.jpg": whole[: len(whole) // 2],
        "bomb.png": png_header(30_000, 30_000),
    }
    bad_ids = {}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        (res,) = arc.add([tmp_path / name])
        bad_ids[name] = res.evidence
    for _ in range(2):  # computed, then from the cache: the same answer
        found = find_similar(arc, ids["astronaut.jpg"])
        assert [f["evidence"] for f in found["similar"]] == [ids["astronaut-small.jpg"]]
        reasons = {s["evidence"]: s["reason"] for s in found["skipped"]}
        assert set(reasons) == set(bad_ids.values())
        assert "truncated or damaged" in reasons[bad_ids["cut.jpg"]]
        assert "30000×30000 pixels, over the limit" in reasons[bad_ids["bomb.png"]]
        assert all("\n" not in r and "/proc/" not in r for r in reasons.values())
    # the queried item itself: a clear error naming it, not "no near-duplicates"
    with pytest.raises(InputError, match=rf"^{bad_ids['cut.jpg']} is truncated"):
        find_similar(arc, bad_ids["cut.jpg"])
    (sound,) = arc.add([make_audio(tmp_path / "talk.wav")])
    with pytest.raises(InputError, match=rf"^{sound.evidence} is a sound recording"):
        find_similar(arc, sound.evidence)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 400)
    (video,) = arc.add([broken])
    with pytest.raises(InputError, match=rf"^{video.evidence} is not a video"):
        find_similar(arc, video.evidence)


def test_similar_recomputes_hashes_cached_by_another_version(photos):
    from sqlalchemy import insert, select

    from sahid.schema import phashes

    arc, ids = photos
    with arc.engine.begin() as conn:  # as an older sahid left them: no version, no reason
        conn.execute(insert(phashes), [{"evidence_id": ids["astronaut-small.jpg"], "hashes": ""}])
    found = find_similar(arc, ids["astronaut.jpg"])
    assert [f["evidence"] for f in found["similar"]] == [ids["astronaut-small.jpg"]]
    with arc.engine.connect() as conn:
        rows = dict(conn.execute(select(phashes.c.evidence_id, phashes.c.hashes)).all())
    assert rows[ids["astronaut-small.jpg"]].startswith("v")


def test_jobs_run_by_name_with_progress(photos):
    arc, ids = photos
    seen = []
    result = run_job(
        arc, "thumbs", {"evidence": ids["coffee.jpg"]}, lambda m, d, t: seen.append((m, d, t))
    )
    assert result and seen
    with pytest.raises(InputError, match="unknown job 'paint'"):
        run_job(arc, "paint", {})


def test_redact_refuses_what_it_cannot_do(photos, tmp_path):
    arc, ids = photos
    with pytest.raises(InputError, match="--mute applies to videos"):
        redact(arc, ids["coffee.jpg"], mute=[(0, 1000)])
    text = tmp_path / "note.txt"
    text.write_text("a note")
    (res,) = arc.add([text])
    with pytest.raises(InputError, match="cannot work on application/octet-stream"):
        redact(arc, res.evidence)


def test_video_redaction_through_the_archive(make_archive, tmp_path):
    from mediagen import audio_samples, make_video

    arc = make_archive()
    (res,) = arc.add([make_video(tmp_path / "street.mp4", seconds=2)])
    done = redact(arc, res.evidence, faces=True, mute=[(500, 1000)])
    assert done["media_type"] == "video/mp4" and done["faces"] >= 1
    out = tmp_path / "copy.mp4"
    arc.get(done["copy"], out)
    samples, rate = audio_samples(out)
    muted = samples[int(0.6 * rate) : int(0.9 * rate)]
    assert abs(muted).max() < 0.01 and abs(samples[int(1.3 * rate) :]).max() > 0.1
    thumbs = make_thumbnails(arc, res.evidence, count=3)
    assert len(thumbs) == 3 and all(t["at_ms"] is not None for t in thumbs)
    arc.verify()


def test_a_failed_redaction_stores_nothing(make_archive, tmp_path):
    arc = make_archive()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(_jpeg(Image.new("RGB", (64, 64)))[:300])  # truncated JPEG
    (res,) = arc.add([broken])
    size = arc.size
    with pytest.raises(InputError, match=r"broken|truncated|damaged|cannot"):
        redact(arc, res.evidence)
    assert arc.size == size and arc.gc() == []


def test_redaction_that_found_no_face_says_so(photos):
    arc, ids = photos
    assert redact(arc, ids["astronaut.jpg"])["no_face_found"] is False
    assert redact(arc, ids["coffee.jpg"])["no_face_found"] is True
    assert (
        redact(arc, ids["coffee.jpg"], faces=False, regions=[(0, 0, 9, 9)])["no_face_found"]
        is False
    )  # nothing was searched for


def test_truncated_video_is_refused_and_nothing_stored(make_archive, tmp_path):
    """Regression: a moov-first MP4 cut at 60 % was stored as a 14-frame "redacted copy",
    and with --mute the error named /proc/self/fd/8 instead of the evidence."""
    from mediagen import make_video

    arc = make_archive()
    whole = make_video(tmp_path / "whole.mp4", seconds=3, faststart=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) * 6 // 10])
    (res,) = arc.add([cut])
    size = arc.size
    for mute in ([], [(500, 1000)]):
        with pytest.raises(InputError, match=rf"^{res.evidence} is truncated or damaged"):
            redact(arc, res.evidence, mute=mute)
    assert arc.size == size and arc.gc() == [] and derived_from(arc, res.evidence) == []
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 400)
    (bad,) = arc.add([broken])
    for call in (redact, make_thumbnails):
        with pytest.raises(InputError, match=rf"^{bad.evidence} is not a video") as info:
            call(arc, bad.evidence)
        assert "/proc/" not in info.value.message


def test_gif_is_a_picture(photos, tmp_path):
    """Regression: GIFs were sniffed as application/octet-stream ("cannot work on ...")."""
    arc, ids = photos
    astronaut = Image.fromarray(skdata.astronaut())
    gif = tmp_path / "flyer.gif"
    astronaut.convert("P", palette=Image.Palette.ADAPTIVE).save(
        gif, "GIF", comment=b"PLANTED-COMMENT"
    )
    (res,) = arc.add([gif])
    row = arc.evidence(res.evidence)  # with the metadata kept for the private record
    assert row["media_type"] == "image/gif"
    assert row["metadata"]["image"]["format"] == "GIF"
    assert row["metadata"]["comment"] == "PLANTED-COMMENT"
    done = redact(arc, res.evidence)
    assert done["faces"] == 1 and done["media_type"] == "image/png"
    out = tmp_path / "copy.png"
    arc.get(done["copy"], out)
    assert b"PLANTED" not in out.read_bytes() and detect_faces(Image.open(out)) == []
    assert len(make_thumbnails(arc, res.evidence)) == 1
    found = find_similar(arc, res.evidence)["similar"]
    assert ids["astronaut.jpg"] in [f["evidence"] for f in found]
    with pytest.raises(InputError, match=r"^cannot clean image/gif: .*\(sahid redact"):
        arc.clean(res.evidence, tmp_path / "clean.gif")


def test_empty_files_are_named_as_empty(make_archive, tmp_path):
    """Regression: a zero-length video said "cannot work on application/octet-stream"."""
    arc = make_archive()
    empty = tmp_path / "clip.mp4"
    empty.write_bytes(b"")
    (res,) = arc.add([empty])
    for call, what in (
        (redact, "redact"),
        (make_thumbnails, "make thumbnails of"),
        (find_similar, "compare"),
    ):
        with pytest.raises(InputError) as info:
            call(arc, res.evidence)
        assert (
            info.value.message == f"{res.evidence} (clip.mp4) is empty (0 bytes): nothing to {what}"
        )


def test_redacting_again_returns_the_recorded_copy(photos):
    arc, ids = photos
    first = redact(arc, ids["coffee.jpg"])
    size = arc.size
    again = redact(arc, ids["coffee.jpg"])
    assert again["copy"] == first["copy"] and again["already"] and arc.size == size
