"""The incident ledger: SQLite by default, PostgreSQL by URL."""

from playbooks.ledger.store import JournalEntry, Ledger, LedgerError

# Imported for their tables too: everything on the shared metadata exists before create_all.
from playbooks.ledger.alerts import AlertStore  # noqa: E402  (needs Ledger first)
from playbooks.ledger.drills import DrillStore  # noqa: E402
from playbooks.ledger.outbox import Outbox  # noqa: E402

__all__ = ["AlertStore", "DrillStore", "JournalEntry", "Ledger", "LedgerError", "Outbox"]
