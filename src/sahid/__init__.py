"""sahid (şahid, "witness"): keep, prove and publish evidence of police violence.

The library is the API; the CLI and the web app are thin shells over it::

    from sahid import Archive
    with Archive.open("case-archive", passphrase) as archive:
        print(archive.checkpoint())
"""

from sahid.archive import Archive, ConsistencyProof, InclusionProof
from sahid.errors import (
    AuthError,
    ConfigError,
    InputError,
    LockedError,
    NetworkError,
    NotFound,
    SahidError,
    VerificationError,
)

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "AuthError",
    "ConfigError",
    "ConsistencyProof",
    "InclusionProof",
    "InputError",
    "LockedError",
    "NetworkError",
    "NotFound",
    "SahidError",
    "VerificationError",
    "__version__",
]
