"""Post-paid subscriptions: renewal invoices, reminders, overdue, suspension and reactivation.

A subscription is billed at the end of each period, on its own cycle: the plan's fee plus the
period's sessions, with the plan's energy price and included energy as separate lines. Its
customer's billing mode is "subscription" while it lives, so neither the per-session task nor
the monthly run bills those sessions; the session links' unique constraint backs that up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cpo_portal.kernel.money import ZERO, round_money, round_quantity, round_unit_price
from cpo_portal.kernel.periods import add_months, day_start, today_for
from cpo_portal.kernel.tenancy import Operator
from customers.models import ChargingToken, Customer, Plan, Subscription, SubscriptionPeriod
from customers.notifications.outbox import notify
from invoicing.documents.composition import (
    InvoicingError,
    charged_exactly,
    compose_document,
    profile_for,
    recipient_errors,
    supply_currency_vat,
    vat_summary,
)
from invoicing.documents.issuing import (
    charge_groups,
    mark_overdue_documents,
    session_facts,
    store_drafts,
)
from invoicing.documents.models import Document, DocumentLine, DocumentOrigin, DocumentStatus
from invoicing.documents.selectors import never_billed
from invoicing.output.reminders import due_context, remind_due_invoices
from invoicing.tax.models import TaxCategory
from invoicing.tax.rules import load_table
from sessions.models import ChargingSession

logger = logging.getLogger(__name__)
# A document line's unit price has 6 decimals.
LINE_UNIT_PRICE_PLACES = Decimal("0.000001")

SUSPENSION_REASON = "Subscription suspended: an invoice is overdue."


def period_end(subscription: Subscription, start: date) -> date:
    """The first day after the period that starts on `start`."""
    periods = _periods_since_start(subscription.start_date, start, subscription.plan.months)
    return add_months(subscription.start_date, (periods + 1) * subscription.plan.months)


def _periods_since_start(first: date, start: date, months: int) -> int:
    return ((start.year - first.year) * 12 + start.month - first.month) // months


# --- selling and cancelling ------------------------------------------------------------------


def subscribe(
    *, customer: Customer, plan: Plan, start_date: date, commit: bool = True
) -> Subscription:
    """Put a customer on a plan from a date; their sessions are billed with its renewals.
    With commit=False only the checks run (forms use it to show the reason)."""
    if not plan.is_active:
        raise InvoicingError(f"The plan “{plan.name}” is retired and cannot be sold.")
    if plan.operator_id != customer.operator_id:
        raise InvoicingError("The plan belongs to another operator.")
    if customer.kind not in (Customer.Kind.INDIVIDUAL, Customer.Kind.COMPANY):
        raise InvoicingError("Only individuals and companies can subscribe to a plan.")
    if customer.subscriptions.filter(status__in=Subscription.LIVE).exists():
        raise InvoicingError(f"{customer} already has a subscription; cancel it first.")
    if not commit:
        return Subscription(
            customer=customer, plan=plan, start_date=start_date, current_period_start=start_date
        )
    with transaction.atomic():
        subscription = Subscription.objects.create(
            customer=customer, plan=plan, start_date=start_date, current_period_start=start_date
        )
        Customer.objects.filter(pk=customer.pk).update(
            billing_mode=Customer.BillingMode.SUBSCRIPTION
        )
    customer.refresh_from_db()
    return subscription


def cancel_subscription(*, subscription: Subscription) -> Subscription:
    """Cancel at the end of the current period: that period is still billed, then it ends."""
    if subscription.status == Subscription.Status.CANCELLED:
        raise InvoicingError("This subscription is already cancelled.")
    Subscription.objects.filter(pk=subscription.pk).update(cancel_at_period_end=True)
    subscription.refresh_from_db()
    return subscription


# --- renewals --------------------------------------------------------------------------------


def renew_subscriptions(*, today: date | None = None) -> int:
    """Bill every period that has ended, oldest first, catching up missed days; returns how
    many invoices were issued. Each (subscription, period) is billed once."""
    issued = 0
    live = Subscription.objects.filter(status__in=Subscription.LIVE).select_related(
        "plan", "customer__operator__invoicing_settings"
    )
    for subscription in live.iterator(chunk_size=500):
        operator_today = today or today_for(subscription.customer.operator)
        while True:
            end = period_end(subscription, subscription.current_period_start)
            if end > operator_today:
                break
            try:
                bill_period(
                    subscription=subscription,
                    start=subscription.current_period_start,
                    issue_date=operator_today,
                )
            except InvoicingError as exc:
                logger.warning("%s not renewed: %s", subscription, exc)
                break
            issued += 1
            subscription.refresh_from_db()
            if subscription.status == Subscription.Status.CANCELLED:
                break
    return issued


@dataclass
class _EnergyUse:
    kwh: Decimal = ZERO
    net: Decimal = ZERO


def bill_period(
    *, subscription: Subscription, start: date, issue_date: date | None = None
) -> Document | None:
    """Issue the post-paid invoice of one period: fee, sessions, plan adjustments."""
    plan = subscription.plan
    customer = subscription.customer
    operator = customer.operator
    settings = operator.invoicing_settings
    end = period_end(subscription, start)
    kind = settings.document_type
    problems = recipient_errors(customer=customer, kind=kind, settings=settings)
    if problems:
        raise InvoicingError("Invoice details incomplete: " + "; ".join(problems))
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if (
            locked.current_period_start != start
            or SubscriptionPeriod.objects.filter(subscription=locked, start=start).exists()
        ):
            return None  # billed meanwhile by another worker
        session_ids = _period_sessions(subscription, start, end, operator)
        facts = session_facts(session_ids)
        groups = charge_groups(session_ids) if session_ids else []
        profile = profile_for(operator=operator, settings=settings)
        draft = compose_document(
            kind=kind,
            origin=DocumentOrigin.SUBSCRIPTION,
            customer=customer,
            settings=settings,
            profile=profile,
            groups=groups,
            sessions=[facts[i] for i in session_ids],
            issue_date=issue_date or today_for(operator),
            period=(start, end - timedelta(days=1)),
            grace_days=plan.grace_days,
        )
        energy = _EnergyUse()
        for group in groups:
            if group.component == DocumentLine.Service.ENERGY:
                energy.kwh += group.quantity
                energy.net += group.net
        fee, adjustments = _plan_lines(plan, settings, energy, profile.content, start, end)
        lines = fee + draft.lines + adjustments
        for position, line in enumerate(lines, start=1):
            line.position = position
        draft.lines = lines
        document = draft.document
        summary, net, vat = vat_summary(lines, document.currency)
        document.vat_summary, document.total_net, document.total_vat = summary, net, vat
        document.total_gross = net + vat
        document.supply_currency_vat = supply_currency_vat(
            summary=summary,
            currency=document.currency,
            countries=[facts[i].country for i in session_ids] or [operator.country],
            on_date=document.issue_date,
        )
        (document,) = store_drafts([draft])
        SubscriptionPeriod.objects.create(
            subscription=locked, start=start, end=end - timedelta(days=1), document=document
        )
        ending = locked.cancel_at_period_end
        Subscription.objects.filter(pk=locked.pk).update(
            current_period_start=end,
            status=Subscription.Status.CANCELLED if ending else locked.status,
            cancelled_on=end if ending else None,
        )
        if ending:
            Customer.objects.filter(pk=customer.pk).update(
                billing_mode=Customer.BillingMode.OPERATOR_DEFAULT
            )
    return document


def _period_sessions(
    subscription: Subscription, start: date, end: date, operator: Operator
) -> list[int]:
    """Unbilled sessions that ended in the period (the first period also takes those from before
    the start that no schedule billed, so switching to a plan leaves nothing unbilled)."""
    until = day_start(end, operator.time_zone)
    ended = Q(ended_at__lt=until)
    if start != subscription.start_date:
        ended &= Q(ended_at__gte=day_start(start, operator.time_zone))
    return list(
        never_billed(
            ChargingSession.objects.filter(
                ended,
                customer=subscription.customer,
                status=ChargingSession.Status.COMPLETED,
                priced_at__isnull=False,
            )
        )
        .order_by("ended_at", "id")
        .values_list("id", flat=True)
    )


def _plan_lines(
    plan, settings, energy: _EnergyUse, content, start, end
) -> tuple[list[DocumentLine], list[DocumentLine]]:
    """The fee lines, and the plan's energy price and included energy as adjustments; each
    line's net is its quantity x unit price (`charged_exactly`)."""
    # The fee is taxed by the subscription-fee rule of the operator's country (the plan's own
    # category where there is none), energy price differences by its electricity rule.
    rates = {"electricity": settings.electricity_vat_rate, "services": settings.services_vat_rate}
    table = load_table()
    country = settings.operator.country
    fee_rule = table.rule(country, TaxCategory.SUBSCRIPTION, start)
    electricity_rule = table.rule(country, TaxCategory.ELECTRICITY, start)
    fee_rate = fee_rule.rate if fee_rule is not None else rates[plan.fee_vat_category]
    if electricity_rule is not None:
        rates["electricity"] = electricity_rule.rate
    fee = charged_exactly(
        DocumentLine(
            service=DocumentLine.Service.SUBSCRIPTION_FEE,
            description=f"{plan.name} ({start:%d.%m.%Y} to {end - timedelta(days=1):%d.%m.%Y})",
            quantity=Decimal(plan.months),
            unit=DocumentLine.Unit.MONTH,
            unit_price=round_unit_price(plan.fee / plan.months),
            net=plan.fee,
            vat_category=plan.fee_vat_category,
            vat_rate=fee_rate,
        )
    )
    lines: list[DocumentLine] = []
    price = energy.net / energy.kwh if energy.kwh else ZERO
    hidden = content["hide_energy"]
    if plan.energy_price is not None and energy.kwh:
        difference = round_money(energy.kwh * plan.energy_price) - round_money(energy.net)
        if difference:
            lines.extend(
                charged_exactly(
                    DocumentLine(
                        service=DocumentLine.Service.PLAN_ENERGY_PRICE,
                        description=content["services_label"] if hidden else f"{plan.name}",
                        quantity=Decimal("1") if hidden else energy.kwh,
                        unit=DocumentLine.Unit.PACKAGE if hidden else DocumentLine.Unit.KWH,
                        unit_price=difference
                        if hidden
                        else round_quantity(plan.energy_price - price, LINE_UNIT_PRICE_PLACES),
                        net=difference,
                        vat_category="electricity",
                        vat_rate=rates["electricity"],
                    )
                )
            )
        price = plan.energy_price
    free = min(plan.included_kwh, energy.kwh)
    if free and price:
        credit = -round_money(free * price)
        lines.extend(
            charged_exactly(
                DocumentLine(
                    service=DocumentLine.Service.INCLUDED_ENERGY,
                    description=content["services_label"] if hidden else f"{plan.name}",
                    quantity=Decimal("1") if hidden else free,
                    unit=DocumentLine.Unit.PACKAGE if hidden else DocumentLine.Unit.KWH,
                    unit_price=credit if hidden else -round_unit_price(price),
                    net=credit,
                    vat_category="electricity",
                    vat_rate=rates["electricity"],
                )
            )
        )
    return fee, lines


# --- payment follow-up -----------------------------------------------------------------------


def check_subscription_payments(*, today: date | None = None, now: datetime | None = None) -> None:
    """Daily: reminders before the due date (every open invoice's, see `remind_due_invoices`),
    overdue notices, past due, suspension."""
    now = now or timezone.now()
    mark_overdue_documents(today=today)
    remind_due_invoices(today=today)
    periods = (
        SubscriptionPeriod.objects.filter(
            document__status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
            subscription__status__in=Subscription.LIVE,
        )
        .select_related("document", "subscription__plan", "subscription__customer__operator")
        .order_by("document__due_date")
    )
    for period in periods.iterator(chunk_size=500):
        subscription = period.subscription
        plan = subscription.plan
        document = period.document
        day = today or today_for(subscription.customer.operator)
        reminder_due = day >= document.due_date - timedelta(days=plan.reminder_days)
        if (
            document.status == DocumentStatus.ISSUED
            and period.reminder_sent_at is None
            and reminder_due
        ):
            _send(period, "payment_due_soon", sent_field="reminder_sent_at", now=now)
        if document.status == DocumentStatus.OVERDUE:
            if period.overdue_notice_sent_at is None:
                _send(period, "overdue", sent_field="overdue_notice_sent_at", now=now)
            if day > document.due_date + timedelta(days=plan.suspend_after_days):
                suspend(subscription=subscription, period=period)
            elif subscription.status == Subscription.Status.ACTIVE:
                Subscription.objects.filter(pk=subscription.pk).update(
                    status=Subscription.Status.PAST_DUE
                )


def suspend(*, subscription: Subscription, period: SubscriptionPeriod) -> None:
    """Block the customer's charging tokens until the overdue invoices are paid; the customer
    is told once, when the subscription becomes suspended because of this period's invoice."""
    with transaction.atomic():
        changed = (
            Subscription.objects.filter(pk=subscription.pk)
            .exclude(status=Subscription.Status.SUSPENDED)
            .update(status=Subscription.Status.SUSPENDED)
        )
        ChargingToken.objects.filter(customer_id=subscription.customer_id, is_blocked=False).update(
            is_blocked=True, blocked_reason=SUSPENSION_REASON
        )
        if changed:
            _tell(period.document, "subscription_suspended", key=f"period:{period.pk}")


def settle_candidates(document_ids: list[int]) -> list[int]:
    """Of documents just paid, those a subscription period bills (one query for many)."""
    if not document_ids:
        return []
    found = set(
        SubscriptionPeriod.objects.filter(document_id__in=document_ids).values_list(
            "document_id", flat=True
        )
    )
    return [pk for pk in document_ids if pk in found]


def settle_after_payment(*, document: Document) -> None:
    """After a payment: once nothing of the subscription is overdue, it and its tokens are
    active again (tokens blocked for other reasons stay blocked)."""
    period = (
        SubscriptionPeriod.objects.filter(document=document).select_related("subscription").first()
    )
    if period is None:
        return
    subscription = period.subscription
    if subscription.status not in (Subscription.Status.PAST_DUE, Subscription.Status.SUSPENDED):
        return
    still_overdue = SubscriptionPeriod.objects.filter(
        subscription=subscription, document__status=DocumentStatus.OVERDUE
    ).exists()
    if still_overdue:
        return
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.ACTIVE)
        ChargingToken.objects.filter(
            customer_id=subscription.customer_id, blocked_reason=SUSPENSION_REASON
        ).update(is_blocked=False, blocked_reason="")
        if subscription.status == Subscription.Status.SUSPENDED:
            # Past due only warned; a suspended customer is told charging works again.
            _tell(document, "subscription_reactivated", key=f"document:{document.pk}")


def _send(period: SubscriptionPeriod, event: str, *, sent_field: str, now: datetime) -> None:
    """Queue a reminder or overdue notice in the outbox with the period's mark, in the invoice's
    language (the outbox worker sends it after commit, once per period)."""
    document = period.document
    with transaction.atomic():
        context = due_context(document)
        context.update(document=document, period=period, operator=document.profile.supplier)
        notify(
            event=event,
            customer=period.subscription.customer,
            context=context,
            email=document.recipient_email,
            language=document.language,
            regarding=f"document:{document.pk}",
            dedupe_key=f"{event}:period:{period.pk}",
        )
        SubscriptionPeriod.objects.filter(pk=period.pk).update(**{sent_field: now})


def _tell(document: Document, event: str, *, key: str) -> None:
    """Queue a suspension or reactivation notice in the invoice's language, once per cause."""
    notify(
        event=event,
        customer=document.customer,
        context=due_context(document),
        email=document.recipient_email,
        language=document.language,
        regarding=f"document:{document.pk}",
        dedupe_key=f"{event}:{key}",
    )


# --- charging authorisation ------------------------------------------------------------------


@dataclass(frozen=True)
class Authorization:
    token: str
    allowed: bool
    reason: str


def authorize_token(*, token: ChargingToken) -> Authorization:
    """Whether a token may start charging, and why not."""
    if token.is_blocked:
        return Authorization(token.uid, False, token.blocked_reason or "Token blocked.")
    return Authorization(token.uid, True, "")
