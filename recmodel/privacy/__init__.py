"""Privacy accounting: immutable DP events, an append-only ledger, accountants."""
