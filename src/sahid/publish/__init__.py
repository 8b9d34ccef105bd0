"""Publishing (DESIGN §7): a static, redacted, verifiable site in az/ru/en.

``build_site(archive, out)`` writes the site and returns a :class:`SiteReport` naming the
ledger entries it reveals and the redacted copies it publishes; ``render_page`` renders
a packaged template in one language (for further pages such as ``verify.html``).
"""

from __future__ import annotations

from sahid.publish.site import LANGS, SiteReport, build_site, render_page, translations

__all__ = ["LANGS", "SiteReport", "build_site", "render_page", "translations"]
