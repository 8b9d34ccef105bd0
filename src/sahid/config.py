"""``sahid.toml``: the archive's public description (DESIGN §1).

It names the archive, its log origin, the KDF defaults for new members and the storage
backends. It never holds a secret: anyone who can list the folder may read it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from sahid._internal.fsutil import write_atomic
from sahid.errors import ConfigError, NotFound

CONFIG_NAME = "sahid.toml"
FORMAT = 1


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters (memory in KiB)."""

    memory_kib: int = 256 * 1024
    time_cost: int = 3
    parallelism: int = 4

    FLOOR_MEMORY_KIB = 64 * 1024
    FLOOR_TIME_COST = 3

    def below_floor(self) -> bool:
        return (
            self.memory_kib < self.FLOOR_MEMORY_KIB
            or self.time_cost < self.FLOOR_TIME_COST
            or self.parallelism < 1
        )

    def as_dict(self) -> dict[str, int]:
        return {"m": self.memory_kib, "t": self.time_cost, "p": self.parallelism}


@dataclass(frozen=True)
class TsaConfig:
    """A timestamp authority ``sahid log anchor`` uses when no ``--tsa`` is given.

    ``ca`` is the file of certificates to trust for it (relative to the archive folder
    unless absolute). A URL, not a secret: sahid.toml holds none.
    """

    url: str
    ca: str


@dataclass(frozen=True)
class ArchiveConfig:
    archive_id: str
    origin: str
    log_key: str  # C2SP note verifier key of the archive's log key (public)
    created: str
    kdf: KdfParams = field(default_factory=KdfParams)
    database: str = "sahid.db"
    blobs: str = "blobs"
    tsa: tuple[TsaConfig, ...] = ()

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "archive": {
                "id": self.archive_id,
                "origin": self.origin,
                "log_key": self.log_key,
                "created": self.created,
            },
            "kdf": {
                "memory_kib": self.kdf.memory_kib,
                "time_cost": self.kdf.time_cost,
                "parallelism": self.kdf.parallelism,
            },
            "storage": {"database": self.database, "blobs": self.blobs},
        }
        if self.tsa:
            out["anchors"] = {"tsa": [{"url": t.url, "ca": t.ca} for t in self.tsa]}
        return out


def config_path(root: Path) -> Path:
    return root / CONFIG_NAME


def write_config(root: Path, cfg: ArchiveConfig) -> None:
    write_atomic(config_path(root), tomli_w.dumps(cfg.to_toml()).encode())


def read_config(root: Path) -> ArchiveConfig:
    """Read and check ``sahid.toml``; every problem is one ConfigError line."""
    path = config_path(root)
    if not path.is_file():
        raise NotFound(
            f"{root} is not a sahid archive (no {CONFIG_NAME}); "
            "pass --archive DIR or create one with `sahid init DIR`"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML ({exc})") from None
    if data.get("format") != FORMAT:
        raise ConfigError(
            f"{path}: format {data.get('format')!r} is not supported "
            f"(this sahid reads format {FORMAT})"
        )
    try:
        arch = data["archive"]
        kdf = data.get("kdf", {})
        storage = data.get("storage", {})
        cfg = ArchiveConfig(
            archive_id=_str(arch, "id"),
            origin=_str(arch, "origin"),
            log_key=_str(arch, "log_key"),
            created=_str(arch, "created"),
            kdf=KdfParams(
                memory_kib=int(kdf.get("memory_kib", KdfParams.memory_kib)),
                time_cost=int(kdf.get("time_cost", KdfParams.time_cost)),
                parallelism=int(kdf.get("parallelism", KdfParams.parallelism)),
            ),
            database=str(storage.get("database", "sahid.db")),
            blobs=str(storage.get("blobs", "blobs")),
            tsa=tuple(
                TsaConfig(_str(t, "url", "anchors.tsa"), _str(t, "ca", "anchors.tsa"))
                for t in data.get("anchors", {}).get("tsa", [])
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: missing or invalid field {exc}") from None
    for name in (cfg.database, cfg.blobs):
        if "/" in name or name in ("", ".", ".."):
            raise ConfigError(
                f"{path}: storage path {name!r} must be a plain name inside the archive"
            )
    return cfg


def _str(table: dict[str, Any], key: str, where: str = "archive") -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{where}.{key}")
    return value
