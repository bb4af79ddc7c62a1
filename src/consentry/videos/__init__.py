"""Videos across the case: exact and near-duplicate groups by vPDQ (a case-level step)."""
