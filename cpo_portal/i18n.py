"""Compile the project's translations (locale/*/LC_MESSAGES/*.po) to .mo files in pure Python.

`make install` runs `python -m cpo_portal.i18n`: polib does what GNU msgfmt would, so neither a
laptop nor a container image needs the gettext system package. Needs no Django settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib

BASE_DIR = Path(__file__).resolve().parent.parent
LOCALE_DIR = BASE_DIR / "locale"


def stale_catalogs(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """The .po files whose .mo is missing or older than they are."""
    stale = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            stale.append(po)
    return stale


def compile_catalog(po_path: Path) -> Path:
    """Write the .mo beside a .po; fuzzy and untranslated entries are left out, as msgfmt does."""
    catalog = polib.pofile(str(po_path))
    for entry in catalog.fuzzy_entries():
        catalog.remove(entry)
    mo_path = po_path.with_suffix(".mo")
    # Written beside and renamed, so a worker reading the catalog never sees half a file.
    partial = mo_path.with_suffix(".mo.partial")
    catalog.save_as_mofile(str(partial))
    partial.replace(mo_path)
    return mo_path


def compile_catalogs(*, only_stale: bool = True, locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Compile every (or every stale) catalog; returns the .mo files written."""
    sources = (
        stale_catalogs(locale_dir) if only_stale else sorted(locale_dir.glob("*/LC_MESSAGES/*.po"))
    )
    return [compile_catalog(po) for po in sources]


def main(argv: list[str]) -> int:
    """`python -m cpo_portal.i18n [file.po ...]`: compile the given or all stale catalogs."""
    written = [compile_catalog(Path(arg)) for arg in argv] if argv else compile_catalogs()
    for mo in written:
        print(f"compiled {mo.relative_to(BASE_DIR) if mo.is_relative_to(BASE_DIR) else mo}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
