"""Analyzers: what is concluded about one piece of content, with the models and thresholds used.

- ``contract``: the ``Analyzer`` base class every analyzer implements (name, version, the content
  kinds it accepts, its model files with their SHA-256, its thresholds, ``analyze`` returning a
  typed ``Finding``, and how its findings are counted, described in reports and classified in
  CASE/UCO).
- ``registry``: which analyzers exist: the built-ins, then plug-ins from the
  ``consentry.analyzers`` entry-point group, imported only when first used.
- ``runner``: loads the planned analyzers once per process (``plan.AnalysisPlan``) and runs them
  on each decoded image, then writes its thumbnail.
- ``builtins/``: the explicit, faces and provenance analyzers under the contract, adapting the
  engines in ``explicit``, ``faces`` and ``provenance/`` (which enrollment and tests use directly).
- ``crypto_hashes`` and ``pdq``: the hashes every file gets (not optional, so not analyzers of
  the registry); ``models``: locating and verifying installed model files.

Analyzers import neither the store nor the scan (``pyproject.toml``, import-linter): they are
functions of content, and the core reads them only through the contract.
"""
