"""The checks untrusted input goes through: path confinement, bounded parsing, secrets kept out of records."""
