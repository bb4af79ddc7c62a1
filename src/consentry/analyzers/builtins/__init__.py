"""The built-in analyzers as ``contract.Analyzer`` classes: thin adapters over the engines in
``analyzers.explicit``, ``analyzers.faces`` and ``analyzers.provenance`` (which stay usable on
their own: enrollment and the tests call the engines directly). Registered first by
``analyzers.registry``."""
