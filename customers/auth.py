"""Who may use the drivers' portal: sign-in by e-mail, and the check every portal page makes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from customers.models import Customer


class EmailBackend(ModelBackend):
    """Signs a user in by e-mail (case-insensitive) and password: `authenticate(email=...)`.

    Only the portal passes `email`, so the admin's username sign-in is unaffected. E-mail is not
    unique on Django's user model: every account with that address is tried, drivers first.
    """

    def authenticate(self, request, email=None, password=None, **kwargs):
        if not email or password is None:
            return None
        User = get_user_model()
        candidates = list(
            User.objects.filter(email__iexact=email.strip()).order_by("is_staff", "pk")
        )
        if not candidates:
            # As ModelBackend does: hash anyway, so the answer takes as long for an unknown
            # address as for a wrong password and does not reveal who has an account.
            User().set_password(password)
            return None
        for user in candidates:
            if user.check_password(password) and self.user_can_authenticate(user):
                return user
        return None


def is_back_office(user) -> bool:
    """Staff and superusers work in the admin; the portal never treats them as drivers."""
    return bool(user.is_staff or user.is_superuser)


def customer_of(user) -> Customer | None:
    """The customer a signed-in driver is, or None (anonymous, staff, or no linked customer)."""
    if not user.is_authenticated or is_back_office(user):
        return None
    return (
        Customer.objects.filter(user=user)
        .filter(Q(kind=Customer.Kind.INDIVIDUAL) | Q(kind=Customer.Kind.COMPANY))
        .select_related("operator")
        .first()
    )
