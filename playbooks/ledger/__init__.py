"""The incident ledger: SQLite by default, PostgreSQL by URL."""

# Imported for their tables too: everything on the shared metadata exists before create_all.
from playbooks.ledger.actions import ActionStore
from playbooks.ledger.alerts import AlertStore
from playbooks.ledger.drills import DrillStore
from playbooks.ledger.outbox import Outbox
from playbooks.ledger.store import JournalEntry, Ledger, LedgerError

__all__ = ["ActionStore", "AlertStore", "DrillStore", "JournalEntry", "Ledger", "LedgerError",
           "Outbox"]
