"""The admin front page's dashboard (templates/admin/index.html)."""

from django import template
from django.utils.formats import date_format

from invoicing.dashboard.figures import build_dashboard
from invoicing.svg_charts import bar_chart

register = template.Library()


@register.inclusion_tag("invoicing/dashboard/dashboard.html")
def admin_dashboard():
    """Figures and charts of the last twelve months in the operator's time zone."""
    dashboard = build_dashboard()
    labels = [date_format(row["month"], "M y") for row in dashboard.months]
    return {
        "dashboard": dashboard,
        "sessions_chart": bar_chart(labels, [row["sessions"] for row in dashboard.months]),
        "energy_chart": bar_chart(
            labels, [row["energy_kwh"] for row in dashboard.months], colour="#79aec8"
        ),
        "revenue_chart": bar_chart(
            labels, [row["net"] for row in dashboard.months], colour="#5b8a3c"
        ),
    }
