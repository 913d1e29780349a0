"""Drivers' self-service portal, mounted at the site root by cpo_portal/urls.py."""

from django.urls import path

from customers.views import accounts, pages, payments, receipts

app_name = "portal"

urlpatterns = [
    path("", accounts.landing, name="landing"),
    path("sign-in/", accounts.SignInView.as_view(), name="sign-in"),
    path("sign-out/", accounts.SignOutView.as_view(), name="sign-out"),
    path("password-reset/", accounts.PasswordResetView.as_view(), name="password-reset"),
    path(
        "password-reset/sent/",
        accounts.PasswordResetSentView.as_view(),
        name="password-reset-sent",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "password-reset/done/",
        accounts.PasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
    path("sessions/", pages.session_list, name="sessions"),
    path("sessions/<int:session_id>/", pages.session_detail, name="session"),
    path(
        "sessions/<int:session_id>/signed-data/",
        pages.session_signed_data,
        name="session-signed-data",
    ),
    path("invoices/", pages.invoice_list, name="invoices"),
    path("invoices/<int:document_id>/", pages.invoice_detail, name="invoice"),
    path("invoices/<int:document_id>/pdf/", pages.invoice_pdf, name="invoice-pdf"),
    path("invoices/<int:document_id>/einvoice/", pages.invoice_einvoice, name="invoice-einvoice"),
    path("invoices/<int:document_id>/pay/", payments.pay, name="invoice-pay"),
    path("invoices/<int:document_id>/paid/", payments.paid, name="invoice-paid"),
    path("payments/", payments.history, name="payments"),
    path("direct-debit/", payments.direct_debit, name="direct-debit"),
    path("pay/<str:token>/", payments.pay_link, name="pay-link"),
    path("payments/demo/<str:token>/", payments.demo_checkout, name="demo-checkout"),
    path("payments/notify/<str:provider_key>/", payments.notify, name="payment-notify"),
    path("details/", pages.invoice_details, name="details"),
    path("subscription/", pages.subscription, name="subscription"),
    path("notifications/", pages.notification_preferences, name="notifications"),
    path("password/", pages.change_password, name="password-change"),
    # Public receipt pages: no account, a signed token per session (docs/receipts.md).
    path("receipts/find/", receipts.find_receipt, name="find-receipt"),
    path("receipts/demo/", receipts.demo_receipt, name="demo-receipt"),
    path("r/<str:token>/", receipts.receipt_page, name="receipt"),
    path("r/<str:token>/pdf/", receipts.receipt_pdf, name="receipt-pdf"),
    path("r/<str:token>/signed-data/", receipts.receipt_signed_data, name="receipt-signed-data"),
]
