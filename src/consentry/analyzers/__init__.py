"""Analyzers: pure functions of (bytes, decoded image) that return typed findings.

Each analyzer module declares ``NAME`` and ``VERSION`` so the store can say which method
produced every finding.
"""
