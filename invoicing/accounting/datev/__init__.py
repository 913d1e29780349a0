"""DATEV exports: the booking batch and the debtor master data, in DATEV's EXTF format."""
