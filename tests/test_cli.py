"""The CLI as a user meets it: real subprocesses, one-line errors, exit codes, --json."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from sahid import Archive
from sahid._internal import merkle
from sahid._internal.checkpoint import open_checkpoint
from sahid._internal.note import Verifier
from test_tamper import set_leaf

from conftest import FAST_KDF, PASSPHRASE, fill

KDF_ARGS = ["--kdf-memory", str(FAST_KDF.memory_kib), "--kdf-time", "3"]


def one_line_error(proc, code=1, contains=""):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    assert contains in lines[0], lines[0]


def test_init_and_log_commands(tmp_path, passfile, cli):
    root = tmp_path / "case-archive"
    p = cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["size"] == 2
    env = {"SAHID_ARCHIVE": str(root), "SAHID_PASSPHRASE_FILE": str(passfile)}
    with Archive.open(root, PASSPHRASE) as arc:
        fill(arc, 10, batch=4)

    key = cli("log", "key", env=env)
    assert key.returncode == 0
    verifier = Verifier.parse(key.stdout.strip())
    assert verifier.name == info["origin"]

    cp = cli("log", "checkpoint", env=env)
    assert cp.returncode == 0, cp.stderr
    checkpoint = open_checkpoint(cp.stdout.strip() + "\n", verifier)
    assert checkpoint.size == 12

    inc = cli("log", "proof", "inclusion", "--index", "5", "--json", env=env)
    assert inc.returncode == 0, inc.stderr
    proof = json.loads(inc.stdout)
    assert set(proof) == {"index", "size", "leaf_hash", "proof"}
    merkle.verify_inclusion(
        proof["index"],
        proof["size"],
        base64.b64decode(proof["leaf_hash"]),
        [base64.b64decode(h) for h in proof["proof"]],
        checkpoint.root_hash,
    )

    old_cp = cli("log", "proof", "inclusion", "--index", "5", "--size", "6", "--json", env=env)
    assert json.loads(old_cp.stdout)["size"] == 6

    cons = cli("log", "proof", "consistency", "--old", "3", "--new", "9", "--json", env=env)
    assert cons.returncode == 0, cons.stderr
    c = json.loads(cons.stdout)
    merkle.verify_consistency(
        3,
        9,
        [base64.b64decode(h) for h in c["proof"]],
        base64.b64decode(c["old_root"]),
        base64.b64decode(c["new_root"]),
    )

    tiles = cli("log", "tiles", str(tmp_path / "out"), "--json", env=env)
    assert tiles.returncode == 0, tiles.stderr
    assert (tmp_path / "out" / "checkpoint").read_text() == cp.stdout.strip() + "\n"
    assert (tmp_path / "out" / "tile" / "0" / "000.p" / "12").is_file()

    ok = cli("verify", "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["size"] == 12


def test_archive_option_and_cwd(tmp_path, passfile, cli):
    root = tmp_path / "a"
    assert cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS).returncode == 0
    p = cli("verify", "--archive", str(root), "--passphrase-file", str(passfile))
    assert p.returncode == 0, p.stderr
    assert "ok: 2 entries" in p.stdout


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (["log", "proof", "inclusion", "--index", "7"], "out of range"),
        (["log", "proof", "inclusion", "--index", "0", "--size", "0"], "out of range"),
        (["log", "proof", "consistency", "--old", "0", "--new", "2"], "out of range"),
        (["log", "proof", "consistency", "--old", "2", "--new", "5"], "out of range"),
    ],
)
def test_bad_proof_requests(tmp_path, passfile, cli, args, contains):
    root = tmp_path / "a"
    assert cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS).returncode == 0
    p = cli(*args, "--archive", str(root), "--passphrase-file", str(passfile))
    one_line_error(p, 1, contains)


def test_bad_inputs(tmp_path, passfile, cli):
    root = tmp_path / "a"
    # Passphrase file missing / empty.
    one_line_error(
        cli("init", str(root), "--passphrase-file", str(tmp_path / "nope")), 1, "does not exist"
    )
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    one_line_error(cli("init", str(root), "--passphrase-file", str(empty)), 1, "is empty")
    assert not root.exists()
    # No terminal and no passphrase file.
    one_line_error(cli("init", str(root)), 1, "--passphrase-file")
    assert cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS).returncode == 0
    # Existing archive, non-empty folder.
    one_line_error(
        cli("init", str(root), "--passphrase-file", str(passfile)), 1, "already a sahid archive"
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    one_line_error(cli("init", str(other), "--passphrase-file", str(passfile)), 1, "not empty")
    # Not an archive.
    one_line_error(
        cli("verify", "--archive", str(other), "--passphrase-file", str(passfile)),
        1,
        "not a sahid archive",
    )
    # Wrong passphrase.
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong one")
    one_line_error(
        cli("verify", "--archive", str(root), "--passphrase-file", str(wrong)),
        1,
        "wrong passphrase",
    )
    # Weak KDF at init.
    one_line_error(
        cli(
            "init",
            str(tmp_path / "weak"),
            "--passphrase-file",
            str(passfile),
            "--kdf-memory",
            "1024",
        ),
        1,
        "below the floor",
    )
    assert not (tmp_path / "weak").exists()
    # Usage errors are exit 1 too, with one line.
    one_line_error(cli("log", "proof", "inclusion", "--archive", str(root)), 1, "Missing option")


def test_json_errors_have_one_shape(tmp_path, passfile, cli):
    p = cli("verify", "--archive", str(tmp_path), "--passphrase-file", str(passfile), "--json")
    assert p.returncode == 1
    err = json.loads(p.stdout)
    assert (
        err["error"] == "not_found"
        and err["exit_code"] == 1
        and "not a sahid archive" in err["message"]
    )


def test_second_writer_message(tmp_path, passfile, cli):
    root = tmp_path / "a"
    assert cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS).returncode == 0
    with Archive.open(root, PASSPHRASE):
        one_line_error(
            cli("verify", "--archive", str(root), "--passphrase-file", str(passfile)), 1, "in use"
        )


def test_passphrase_never_an_argument(cli):
    p = cli("init", "--help")
    assert p.returncode == 0
    assert "--passphrase-file" in p.stdout
    assert "--passphrase " not in p.stdout and "--password" not in p.stdout


def test_tampered_archive_exits_2(tmp_path, passfile, cli):
    root = tmp_path / "a"
    assert cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS).returncode == 0
    with Archive.open(root, PASSPHRASE) as arc:
        fill(arc, 5)
        with arc.engine.begin() as conn:
            set_leaf(conn, 4, bytes(32))
    p = cli("verify", "--archive", str(root), "--passphrase-file", str(passfile))
    one_line_error(p, 2, "entry 4")
    assert "step 2" in p.stderr


def test_state_dir_env_is_respected(tmp_path, passfile, cli):
    state = tmp_path / "state"
    root = tmp_path / "a"
    env = {"SAHID_STATE_DIR": str(state)}
    assert (
        cli("init", str(root), "--passphrase-file", str(passfile), *KDF_ARGS, env=env).returncode
        == 0
    )
    files = list((state / "seen").glob("*.checkpoint"))
    assert len(files) == 1
    assert os.stat(files[0]).st_mode & 0o077 == 0
    assert Path(files[0]).read_text().startswith("sahid/")
