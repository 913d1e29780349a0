"""The drivers' self-service portal: accounts, sessions, invoices, details and subscription."""
