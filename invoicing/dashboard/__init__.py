"""The admin dashboard: monthly summary tables and the figures the front page reads."""
