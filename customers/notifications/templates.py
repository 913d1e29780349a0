"""A message's words: the operator's own template for the event, channel and language when it
has one, else the shipped template in that language."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.template import Context, Template, TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import render_to_string
from django.utils import translation

from customers.notifications.events import Event
from customers.notifications.models import MessageTemplate, OutboundMessage

# What the preview fills the template with: every name the shipped templates use.
SAMPLE_CONTEXT = {
    "customer_name": "Anna Example",
    "operator_name": "VoltWay",
    "operator": "VoltWay Charging GmbH",
    "amount": Decimal("42.50"),
    "total": Decimal("42.50"),
    "currency": "EUR",
    "document_number": "INV-2026-000123",
    "number": "INV-2026-000123",
    "title": "Invoice",
    "date": "2026-12-15",
    "due_date": "2026-12-15",
    "days": 3,
    "link": "https://charge.example.com/s/AbCdEf1234/",
    "pay_link": "https://charge.example.com/pay/AbCdEf1234/",
    "mandate": "M42-1A2B3C4D5E6F",
    "creditor": "DE98ZZZ09999999999",
    "name": "Anna Example",
}


class TemplateProblem(ValueError):
    """An operator's template that does not compile or render, with Django's reason."""


def operator_templates(
    operator_ids: Iterable[int | None], events: Iterable[str]
) -> dict[tuple[int, str, str, str], MessageTemplate]:
    """The operators' own templates for some events, by (operator, event, channel, language):
    read once for many messages."""
    return {
        (t.operator_id, t.event, t.channel, t.language): t
        for t in MessageTemplate.objects.filter(
            operator_id__in=[pk for pk in operator_ids if pk], event__in=list(events)
        )
    }


def render_message(
    *,
    event: Event,
    channel: str,
    language: str,
    context: Mapping[str, object],
    operator_id: int | None,
    templates: Mapping[tuple[int, str, str, str], MessageTemplate] | None = None,
) -> tuple[str, str, str]:
    """(subject, text, html) of the message in `language`; the operator's template wins.
    `templates` are the operators' templates read beforehand (`operator_templates`)."""
    if not operator_id:
        override = None
    elif templates is not None:
        override = templates.get((operator_id, event.code, channel, language))
    else:
        override = MessageTemplate.objects.filter(
            operator_id=operator_id, event=event.code, channel=channel, language=language
        ).first()
    with translation.override(language):
        if override is not None:
            try:
                return render_override(override, context)
            except TemplateProblem:
                pass  # a template that broke after it was saved: the shipped text, never none
        if channel == OutboundMessage.Channel.SMS:
            return "", render_to_string(f"{event.templates}_sms.txt", dict(context)).strip(), ""
        subject = render_to_string(f"{event.templates}_subject.txt", dict(context))
        text = render_to_string(f"{event.templates}.txt", dict(context))
        try:
            html = render_to_string(f"{event.templates}.html", dict(context))
        except TemplateDoesNotExist:
            html = ""  # a plain-text e-mail (the password reset)
    return " ".join(subject.split()), text, html


def render_override(
    template: MessageTemplate, context: Mapping[str, object]
) -> tuple[str, str, str]:
    """Render an operator's template; TemplateProblem says why it cannot be used."""
    try:
        subject = _render(template.subject, context, autoescape=False)
        text = _render(template.body_text, context, autoescape=False)
        html = _render(template.body_html, context, autoescape=True)
    except (TemplateSyntaxError, TemplateDoesNotExist) as error:
        raise TemplateProblem(str(error)) from error
    if template.channel == OutboundMessage.Channel.SMS:
        return "", text.strip(), ""
    return " ".join(subject.split()), text, html


def preview(template: MessageTemplate) -> tuple[str, str, str]:
    """The template filled with a realistic example, in its language."""
    with translation.override(template.language):
        return render_override(template, SAMPLE_CONTEXT)


def _render(source: str, context: Mapping[str, object], *, autoescape: bool) -> str:
    if not source:
        return ""
    return Template("{% load i18n %}" + source).render(
        Context(dict(context), autoescape=autoescape)
    )
