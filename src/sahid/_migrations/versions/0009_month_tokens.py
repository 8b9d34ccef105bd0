"""Month tokens in the search index (issue 5 item 7: date-filtered search at a million
records).

A date filter was one FTS5 clause of the years its range touches, and every match was
then checked against its exact dates, the ``spans`` stored with the row's text: a page
read for each of the few hundred matches of a window, the slowest part of a filtered
search. Each document's facets now also hold a token for every month its spans touch
(or one long-span token past two years), so a match of a year or a month inside the
range passes as it is and only the edge months' matches are read. FTS5 cannot change
rows in place without rewriting them, so the upgrade copies the index into a new table
with the months of each row's own spans column added: exactly the tokens the
projections write, so a replay still matches.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MONTH_MARK = "\ue000m"  # month tokens and the long-span token; no other facet starts so


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    from sahid.records import search

    def add_months(tokens: set[str], spans: str) -> set[str]:
        for span in spans.split():
            lo, _, hi = span.partition("/")
            tokens.update(search.month_tokens(lo, hi))
        return tokens

    search.rewrite_facets(conn, add_months)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    from sahid.records import search

    def strip_months(tokens: set[str], _: str) -> set[str]:
        return {t for t in tokens if not t.startswith(MONTH_MARK)}

    search.rewrite_facets(conn, strip_months)
