"""gunicorn settings read from the working directory (docs/operations.md, "Access logs").

Access logs, when switched on (`--access-logfile -`), name the path without its query string:
a query string can carry secrets (a key sent as ?api_key= by mistake, reset or export links),
and log files are read by more people and kept longer than the database.
"""

import gc

# %(U)s is the path without the query string; %(r)s (the whole request line), %(q)s (the query)
# and the referer %(f)s are left out on purpose. %(M)s: request time in milliseconds.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'


def post_worker_init(worker):
    """Freeze what start-up loaded, so the collector stops walking it on every full collection."""
    # Without it about 1 request in 20 paid 80-200 ms for a full collection over Django's
    # modules, URL patterns and serializers, which live as long as the worker anyway.
    gc.freeze()
