"""The matching service's HTTP shell: HMA 1.x-compatible routes and consentry's /v1 API over
``consentry.services.matching`` (docs/service-contract.md)."""
