"""Ports: one protocol per role. The core depends on these, never on a client library."""
