"""Reports of a case: one data model (``collect.CaseReport``) rendered by format writers
(``formats.py`` dispatches: html, pdf, json, csv, vics, case, hashpack, notice)."""
