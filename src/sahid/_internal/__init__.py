"""Plumbing: raw primitives and formats. Not public API; misuse is easy here."""
