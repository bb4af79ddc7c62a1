"""Derivation linking (issue 5): which image in a case was made from which other image, what
changed, and whether the face is still the same person. Entry point:
``derivation.link_pass.link_derivations``.

The package imports nothing eagerly: the store's links module needs ``derivation.features``, and
``link_pass`` needs the store, so importing the pass here would make the import order matter."""
