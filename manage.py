#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpo_portal.settings")
    from cpo_portal.command_line import run

    run(sys.argv)


if __name__ == "__main__":
    main()
