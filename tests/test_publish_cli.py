"""publish, verify-site, package, verify-package as a user runs them (issue 7)."""

from __future__ import annotations

import json
import zipfile

from sahid.demo import build_demo

from conftest import FAST_KDF, PASSPHRASE, run_cli


def test_publish_verify_package_commands(tmp_path, passfile, cli):
    build_demo(tmp_path / "demo", PASSPHRASE, kdf=FAST_KDF)
    env = {"SAHID_ARCHIVE": str(tmp_path / "demo"), "SAHID_PASSPHRASE_FILE": str(passfile)}
    site = tmp_path / "site"
    p = cli("publish", str(site), "--include", "unverified", "--json", env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["incidents"] == 7
    for lang in ("az", "ru", "en"):
        assert (site / lang / "verify.html").is_file()
    ok = cli("verify-site", str(site))
    assert ok.returncode == 0 and "verifies" in ok.stdout
    # Republishing into the same folder works; a foreign folder and bad languages do not.
    assert cli("publish", str(site), "--include", "unverified", env=env).returncode == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("mine")
    bad = cli("publish", str(foreign), env=env)
    assert bad.returncode == 1 and "is not empty and not a sahid site" in bad.stderr
    lang = cli("publish", str(tmp_path / "new"), "--lang", "de", env=env)
    assert lang.returncode == 1 and "de" in lang.stderr
    # Tampering with any published byte: exit 2, the file named.
    page = site / "en" / "index.html"
    page.write_bytes(page.read_bytes().replace(b"</h1>", b" (edited)</h1>", 1))
    t = cli("verify-site", str(site))
    assert t.returncode == 2 and "en/index.html" in t.stderr

    case = tmp_path / "case.zip"
    pk = cli("package", "imishli-2025-01-18", "-o", str(case), "--json", env=env)
    assert pk.returncode == 0, pk.stderr
    assert cli("verify-package", str(case)).returncode == 0
    names = zipfile.ZipFile(case).namelist()
    assert "summary.pdf" in names and any(n.startswith("evidence/") for n in names)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(case) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("evidence/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.writestr(item, data)
    bad_pkg = cli("verify-package", str(tampered))
    assert bad_pkg.returncode == 2 and "evidence/" in bad_pkg.stderr


def test_verify_site_on_a_wrong_path_is_bad_input_not_tampering(tmp_path):
    """A mistyped path is exit 1 with a one-line hint; exit 2 is kept for tampering."""
    missing = run_cli("verify-site", str(tmp_path / "nowhere"))
    assert missing.returncode == 1, missing.stderr
    assert missing.stderr.strip() == (
        f"error: {tmp_path / 'nowhere'} is not a folder; give the folder `sahid publish` wrote"
    )
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.txt").write_text("not a site", encoding="utf-8")
    other = run_cli("verify-site", str(tmp_path / "photos"))
    assert other.returncode == 1, other.stderr
    assert "is not a sahid site" in other.stderr and "Traceback" not in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
