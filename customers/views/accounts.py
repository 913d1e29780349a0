"""Signing in and out, password reset by e-mail, and the front page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.translation import check_for_language
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.tenancy import Operator
from customers.auth import customer_of, is_back_office
from customers.forms import PortalPasswordResetForm, PortalSignInForm
from customers.views import selectors
from customers.views.access import page


def _operator() -> Operator | None:
    # The portal runs for one operator; its name heads the pages nobody is signed in to.
    return Operator.objects.order_by("id").first()


class PortalPageMixin:
    """Pages before sign-in: they name the operator, like every portal page."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(operator=_operator(), **kwargs)


def landing(request: HttpRequest) -> HttpResponse:
    """The front page: an overview for a signed-in driver, else who runs the portal."""
    customer = customer_of(request.user)
    if customer is None:
        return render(request, "portal/landing.html", {"operator": _operator()})
    response = page(
        request,
        customer,
        "portal/home.html",
        "home",
        balance=selectors.open_balance(customer=customer),
        recent_sessions=selectors.sessions_of(customer=customer)[:3],
        subscription=selectors.live_subscription_of(customer=customer),
        hide_energy=selectors.hides_energy(customer=customer),
    )
    add_never_cache_headers(response)
    return response


class SignInView(PortalPageMixin, auth_views.LoginView):
    """Sign-in by e-mail and password; drivers already signed in go straight to their pages."""

    template_name = "portal/accounts/sign_in.html"
    authentication_form = PortalSignInForm
    next_page = reverse_lazy("portal:landing")
    extra_context = {"hide_sign_in_link": True}

    def get(self, request, *args, **kwargs):
        if customer_of(request.user) is not None:
            return redirect(self.get_success_url())
        return super().get(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        # The portal speaks the driver's document language until they pick another one.
        language = customer_of(form.get_user()).language
        if (
            language
            and settings.LANGUAGE_COOKIE_NAME not in self.request.COOKIES
            and check_for_language(language)
        ):
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response


class SignOutView(auth_views.LogoutView):
    """Sign-out (a POST from the button in the header); back to the sign-in page."""

    next_page = reverse_lazy("portal:sign-in")

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.success(request, _("You are signed out."))
        return response


class PasswordResetView(PortalPageMixin, auth_views.PasswordResetView):
    """Ask for a reset link by e-mail; the answer is the same whether the address is known."""

    template_name = "portal/accounts/password_reset_form.html"
    form_class = PortalPasswordResetForm
    email_template_name = "portal/email/password_reset.txt"
    subject_template_name = "portal/email/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password-reset-sent")

    @property
    def extra_email_context(self):
        # The e-mail is signed with the operator's name rather than the server's host name.
        operator = _operator()
        return {"site_name": operator.name} if operator else None


class PasswordResetSentView(PortalPageMixin, auth_views.PasswordResetDoneView):
    template_name = "portal/accounts/password_reset_sent.html"


class PasswordResetConfirmView(PortalPageMixin, auth_views.PasswordResetConfirmView):
    """Set a new password from the e-mailed link; links never reset a back-office account."""

    template_name = "portal/accounts/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password-reset-complete")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is None or is_back_office(user):
            return None
        return user


class PasswordResetCompleteView(PortalPageMixin, auth_views.PasswordResetCompleteView):
    template_name = "portal/accounts/password_reset_complete.html"
