"""A small server-rendered SVG bar chart: no JavaScript, no CDN."""

from django.utils.html import format_html, format_html_join


def bar_chart(labels, values, width=420, height=160, colour="#417690"):
    """Bars scaled to the largest value, each labelled below and titled with its value."""
    values = [float(value or 0) for value in values]
    top = max(values, default=0) or 1
    slot = width / max(len(values), 1)
    tallest = height - 30
    bars = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar = tallest * value / top
        x = index * slot + slot * 0.15
        bars.append(
            (
                f"{x:.1f}",
                f"{tallest - bar + 4:.1f}",
                f"{slot * 0.7:.1f}",
                f"{bar:.1f}",
                colour,
                label,
                f"{value:,.2f}",
                f"{x + slot * 0.35:.1f}",
                height - 8,
                label,
            )
        )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {} {}" width="{}" '
        'height="{}">{}</svg>',
        width,
        height,
        width,
        height,
        format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>'
            '<text x="{}" y="{}" font-size="9" text-anchor="middle">{}</text>',
            bars,
        ),
    )
