"""The outbox: every message to a driver (e-mail or SMS) is a row written with the change that
causes it and sent by a worker after commit, each attempt recorded (docs/notifications.md)."""
