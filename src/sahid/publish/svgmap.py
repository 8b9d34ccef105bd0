"""An inline SVG map of Azerbaijan: districts shaded by incident count, places as dots.

The outlines are a simplified copy of geoBoundaries AZE ADM2 packaged in
``sahid/publish/data/districts.json`` (CC BY-SA 3.0; see ``data/LICENSE.md``), joined to
gazetteer place ids. The projection is equirectangular, scaled by the cosine of the
middle latitude, which is close enough for a country this size.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = ["outlines", "render_map"]

WIDTH = 800.0
_LON0, _LON1, _LAT0, _LAT1 = 44.70, 50.70, 38.35, 41.97
_KX = math.cos(math.radians((_LAT0 + _LAT1) / 2))
_SCALE = WIDTH / ((_LON1 - _LON0) * _KX)
HEIGHT = round((_LAT1 - _LAT0) * _SCALE, 1)


@functools.cache
def outlines() -> list[dict[str, Any]]:
    """The packaged district outlines: ``name``, ``place`` (gazetteer id), ``rings``."""
    raw = (files("sahid.publish") / "data" / "districts.json").read_text(encoding="utf-8")
    features: list[dict[str, Any]] = json.loads(raw)["features"]
    return features


def project(lon: float, lat: float) -> tuple[float, float]:
    return (lon - _LON0) * _KX * _SCALE, (_LAT1 - lat) * _SCALE


@functools.cache
def _path(index: int) -> str:
    parts = []
    for ring in outlines()[index]["rings"]:
        pts = [project(x, y) for x, y in ring]
        parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
    return "".join(parts)


def shade(count: int) -> int:
    """The shade class (0-5) of a district with ``count`` incidents."""
    if count <= 0:
        return 0
    for n, limit in enumerate((1, 3, 10, 30), start=1):
        if count <= limit:
            return n
    return 5


def render_map(
    counts: Mapping[str, int],
    points: Sequence[tuple[tuple[str, str, str], str]],
    *,
    names: Callable[[str], str],
    count_label: str,
    href: str = "districts/{}.html",
) -> str:
    """The SVG: ``counts`` by district place id; ``points``: ((place, lat, lon), incident)."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} {HEIGHT}" '
        'class="map" role="img">'
    ]
    for i, f in enumerate(outlines()):
        pid = f.get("place")
        n = counts.get(pid, 0) if pid else 0
        label = names(pid) if pid else f["name"]
        title = f"<title>{escape(label)}: {n} {escape(count_label)}</title>"
        path = f'<path class="d s{shade(n)}" d="{_path(i)}">{title}</path>'
        if n and pid:
            out.append(f"<a href={quoteattr(href.format(pid))}>{path}</a>")
        else:
            out.append(path)
    by_place: dict[str, tuple[str, str, list[str]]] = {}
    for (pid, lat, lon), inc in points:
        by_place.setdefault(pid, (lat, lon, []))[2].append(inc)
    for pid in sorted(by_place):
        lat, lon, incs = by_place[pid]
        x, y = project(float(lon), float(lat))
        r = 3.0 + min(9.0, 2.0 * math.log2(len(incs)))
        title = f"<title>{escape(names(pid))}: {len(incs)} {escape(count_label)}</title>"
        target = f"incidents/{incs[0]}.html" if len(incs) == 1 else None
        dot = f'<circle class="p" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}">{title}</circle>'
        out.append(f"<a href={quoteattr(target)}>{dot}</a>" if target else dot)
    out.append("</svg>")
    return "\n".join(out)
