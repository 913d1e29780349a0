"""Date-time formats of the project's languages: Django's own, with the time zone named after the
time ("Nov. 30, 2026, 11:30 p.m. EET"), so no screen shows a time without saying whose clock it
is (kernel/periods.py says which clock each thing is read on)."""
