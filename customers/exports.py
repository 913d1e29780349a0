"""The customers export (docs/exports.md); registered from CustomersConfig.ready()."""

from __future__ import annotations

from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.exports.registry import Export, register
from customers.models import Customer
from customers.resources import CustomerResource

CUSTOMERS = register(Export(ExportJob.What.CUSTOMERS, Customer, CustomerResource, "created_at"))
