"""The export framework (docs/exports.md); the exports themselves belong to their apps.

columns.py   typed column widgets and the ExportResource base of every export's columns
registry.py  the Export base class, register(export) and get_export(what), chunked reading
writers.py   CSV and XLSX writers, formula neutralising, file names and content types
jobs.py      export jobs written by a worker: claim, progress, complete, fail
tasks.py     the Celery task "invoicing.run_export_job" (listed in CELERY_IMPORTS)
models.py    ExportJob
"""
