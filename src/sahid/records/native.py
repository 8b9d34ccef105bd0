"""``sahid_tf()``: FTS5's own per-row phrase counts, for the ranked search window.

The ranked window scores the newest matches of a query with BM25, which needs, for each
row, how often each phrase occurs in it and how many tokens it has. FTS5 holds both in
its index (phrase positions, and the ``docsize`` table), but Python's sqlite modules can
register no FTS5 auxiliary function. So ``fts5tf.c``, built with sahid as the optional
extension ``sahid.records._fts5tf``, registers one: ``sahid_tf(search_text)`` answers a
blob of native ``uint32``: the row's tokens in all columns (as ``bm25()`` counts them),
then each query phrase's instances in the first column. Without it, search reads every
window row's text from the content table (a random encrypted page each) and counts in
Python: the same scores, more slowly. The same library adds the aggregate
``sahid_rowids(rowid)``, a blob of the native ``int64`` rowids it is given: the
documents of a query read as one value (:mod:`sahid.records.docsets`), not a row each.

The library is loaded into each SQLCipher connection as it is made (``load``), with
extension loading switched on only for that one call; whether it loaded is kept in the
connection's ``info`` (``INFO_KEY``), which tests may set to False to take the Python path.
"""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path
from typing import Any

INFO_KEY = "sahid_tf"
FUNCTION = "sahid_tf"
ROWIDS = "sahid_rowids"


def library() -> Path | None:
    """The built extension next to this module, if the build made one."""
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_fts5tf{suffix}"
        if path.is_file():
            return path
    return None


def load(dbapi_connection: Any) -> bool:
    """Register ``sahid_tf`` on a SQLCipher connection; False if it cannot be.

    ``SAHID_NATIVE_SEARCH=0`` in the environment keeps the Python path.
    """
    path = library()
    if path is None or os.environ.get("SAHID_NATIVE_SEARCH") == "0":
        return False
    try:
        dbapi_connection.enable_load_extension(True)
        try:
            dbapi_connection.load_extension(str(path))
        finally:
            dbapi_connection.enable_load_extension(False)
    except Exception:  # an old or foreign build: fall back, never fail to open
        return False
    return True
