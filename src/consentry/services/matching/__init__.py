"""The matching service's core (``consentry service``): hash banks, lookups, upload screening,
victims' packs, consent withdrawal, API keys and the audit log. Shells (matchapi, the CLI) call
these; they hold no SQL and write no audit event. Contract: docs/service-contract.md."""
