"""Analyzers for artefacts rather than pictures: browser histories and downloads, read from the
bytes of their SQLite/plist files without modifying them, and the curated list of services."""
