"""SEPA direct debit: invoices are collected from the customer's account under their mandate
in collection runs (invoicing/payments/collections.py); the bank returns what fails."""

from __future__ import annotations

from invoicing.payments.collections import PROVIDER
from invoicing.payments.providers import PaymentProvider


class SepaDirectDebitProvider(PaymentProvider):
    key = PROVIDER
    name = "SEPA direct debit"
