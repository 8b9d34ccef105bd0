"""Media files: tell their type from content, read their metadata, write clean copies.

* :func:`sahid.media.sniff.sniff` names a media type from the first bytes of a file.
* :func:`sahid.media.metadata.extract` reads EXIF, GPS, XMP, IPTC, QuickTime, PDF and
  audio tags into JSON-safe values (no floats) and never raises on damaged input.
* :func:`sahid.media.clean.clean` writes a copy with identifying metadata removed,
  without re-encoding pixels or frames where the format allows it.
"""
