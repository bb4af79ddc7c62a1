"""The service layer: what a shell (the CLI now, the web app and the matching service next) asks
the core to do.

A service is one function per action (scan, link, write a report, summarise a case...). It
takes typed inputs (a ``CaseRef`` naming the case, a request dataclass), opens the case once,
does the work through the layers below, writes its own audit events and returns a typed result.
It never prints and never exits: what goes wrong is one ``ServiceError`` whose ``code`` the
shell turns into its own answer (an exit status, an HTTP status). A shell therefore holds no
SQL, no audit writes and no domain rules, and every shell behaves the same.

Service modules import the heavy layers (models, the store, the pipeline) inside their
functions, so a shell can import them to build its interface and still start fast.
"""
