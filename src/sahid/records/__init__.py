"""Incident records (DESIGN §4): model, sealed persons, projections, search, transfer."""
