"""The record commands as a user runs them (issue 5)."""

from __future__ import annotations

import json

from sahid.archive import Archive

from conftest import PASSPHRASE

KDF_ARGS = ["--kdf-memory", "65536", "--kdf-time", "3"]


def test_a_case_from_the_command_line(tmp_path, passfile, cli):
    root = tmp_path / "arc"
    assert cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS).returncode == 0
    env = {"SAHID_ARCHIVE": str(root), "SAHID_PASSPHRASE_FILE": str(passfile)}

    def ok(*args: str) -> dict:
        p = cli(*args, "--json", env=env)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    unit = ok("unit", "add", "State Traffic Police, Imishli district", "--id", "u-dyp")
    assert unit["ids"] == ["u-dyp"]
    inc = ok(
        "incident",
        "add",
        "--title",
        "Police car hits schoolchildren",
        "--date",
        "2025-01-18T12:30",
        "--place",
        "İmişli",
        "--type",
        "killing",
        "--unit",
        "u-dyp",
    )["ids"][0]
    p1 = ok(
        "person",
        "add",
        "--incident",
        inc,
        "--role",
        "victim",
        "--age-group",
        "child",
        "--name",
        "PLANTED Child Name",
    )["ids"][0]
    ok(
        "act",
        "add",
        "--incident",
        inc,
        "--victim",
        p1,
        "--perpetrator",
        "u-dyp",
        "--type",
        "hit by vehicle",
        "--outcome",
        "death",
    )
    st = ok(
        "statement",
        "add",
        "--incident",
        inc,
        "--source",
        "Ministry of Interior",
        "--date",
        "2025-01-18",
        "--lang",
        "az",
        "--text",
        "İmişlidə yol qəzası baş verib",
        "--claim",
        "It was a traffic accident",
    )["ids"][0]
    ok("charge", "add", "--incident", inc, "--label", "hooliganism", "--article", "221.3")

    listing = cli("person", "ls", env=env)
    assert "Victim A" in listing.stdout and "PLANTED" not in listing.stdout
    revealed = ok("person", "show", p1, "--reveal")
    assert revealed["sealed"]["name"] == "PLANTED Child Name"

    for q in ("imishli", "Имишли", "İmişli"):
        hits = ok("search", q)
        assert {inc, st} <= {h["id"] for h in hits}, q
    text = cli("search", "Имишли", "--place", "Imishli", env=env)
    assert text.returncode == 0 and "[İmişli" in text.stdout
    assert ok("search", "--charge", "hooliganism")[0]["id"] == inc

    clip = tmp_path / "clip.txt"
    clip.write_text("dashcam frames")
    ev = ok("add", str(clip), "--note", "dashcam from the roadside")[0]["evidence"]
    ok("link", ev, "--statement", st, "--claim", "1", "--contradicts")
    shown = ok("statement", "show", st)
    assert shown["links"][0]["relation"] == "contradicts"
    ok(
        "update",
        inc,
        "--set",
        "status=corroborated",
        "--set",
        "title.az=Polis maşını uşaqları vurdu",
    )
    assert ok("incident", "show", inc)["fields"]["title"]["az"] == "Polis maşını uşaqları vurdu"

    out = tmp_path / "export.json"
    ok("export", "-o", str(out))
    assert "PLANTED" not in out.read_text()
    ok("update", inc, "--set", "note=call the uncle after dark")
    noted = cli("export", "-o", str(tmp_path / "noted.json"), env=env)
    assert noted.returncode == 0 and "1 record(s) carry private notes" in noted.stderr
    assert "call the uncle" in (tmp_path / "noted.json").read_text()
    csv_dir = tmp_path / "csv"
    ok("export", "--format", "csv", "-o", str(csv_dir))
    assert (csv_dir / "incidents.csv").read_text().startswith("id,title_az,title_ru,title_en")

    erased = cli("person", "erase", p1, "--yes", env=env)
    assert erased.returncode == 0, erased.stderr
    assert ok("person", "show", p1, "--reveal")["sealed"] == "erased"
    assert cli("verify", env=env).returncode == 0

    # Bad input: one line, non-zero, nothing written.
    with Archive.open(root, PASSPHRASE) as arc:
        size = arc.size
    bad = cli("incident", "add", "--title", "x", "--date", "2025", "--type", "riot", env=env)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: type: 'riot' is not allowed; allowed: killing")
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    future = cli(
        "incident", "add", "--title", "x", "--date", "2999-01-01", "--type", "killing", env=env
    )
    assert "is in the future" in future.stderr
    missing = cli("act", "add", "--incident", "inc-nope", "--type", "x", env=env)
    assert "no incident with id 'inc-nope'" in missing.stderr
    bad_csv = tmp_path / "incidents.csv"
    bad_csv.write_text("id,title_en,start,type\nq1,t,2025,killing\nq2,t,20xx,killing\n")
    imp = cli("import", str(bad_csv), env=env)
    assert imp.returncode == 1 and "incidents.csv row 3, column start" in imp.stderr
    with Archive.open(root, PASSPHRASE) as arc:
        assert arc.size == size


def test_demo_command(tmp_path, passfile, cli):
    p = cli("demo", str(tmp_path / "demo"), "--passphrase-file", str(passfile), "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["counts"]["incident"] == 7
