"""The ``sahid`` command line: a thin Typer + Rich shell over :class:`sahid.Archive`."""
