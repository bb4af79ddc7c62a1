"""Persons: who is depicted in a case, with consent for the ones who are named.

One module per job:

- ``consent``: the consent record without which nobody is enrolled;
- ``template_crypto``: templates encrypted at rest (Fernet), the key and its check;
- ``enroll``: reference photo -> template, with the scan's own decoder and face analyzer;
- ``matching``: every face against every consented person (vectorised), match/possible/none;
- ``clustering``: usable faces of unknown people into numbered groups that never renumber;
- ``refresh``: the case-level pass that runs both after each scan and each enrollment change;
- ``folders``: folder reconciliation (who is filed where, folders named like people);
- ``findings``: the persons list and the count (estimate, bounds, the reason for each person
  between them, review flags), with what each number counts.

All SQL lives in ``store/persons_store.py``; the actions a shell asks for (enroll, erase,
merge, split, refresh) are ``services/persons.py``, the commands ``cli/persons.py``.
"""

from consentry.persons.refresh import refresh_identities

__all__ = ["refresh_identities"]
