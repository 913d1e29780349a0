"""How every admin screen shows a refused business rule: one error message, the page stays."""

from __future__ import annotations

from django.contrib import messages

from cpo_portal.kernel.errors import DomainError

__all__ = ["domain_error_message", "show_domain_error"]


def domain_error_message(error: DomainError) -> str:
    """The sentence a back-office user reads for a refused rule."""
    return str(error)


def show_domain_error(model_admin, request, error: DomainError) -> None:
    """Show a refused rule on the admin page as an error message."""
    model_admin.message_user(request, domain_error_message(error), messages.ERROR)
