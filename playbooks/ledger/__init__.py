"""The incident ledger: SQLite by default, PostgreSQL by URL."""

from playbooks.ledger.store import JournalEntry, Ledger, LedgerError

__all__ = ["JournalEntry", "Ledger", "LedgerError"]
