"""Staff Markdown to HTML that is safe to show: Markdown renders, then nh3 keeps only the tags and
attributes below. Raw HTML in the text (a table with a caption) survives only inside this list, so a
<script>, a style or an onerror= from the admin never reaches a shopper's page."""

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "caption", "code", "dd", "dl", "dt", "em", "h2", "h3", "h4", "hr",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "th": {"scope", "colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    "h2": {"id"},
    "h3": {"id"},
    "table": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


def markdown_to_safe_html(text: str) -> SafeString:
    """Render staff Markdown and keep only the allowed tags, attributes and link schemes."""
    html = markdown.markdown(text, extensions=["tables", "sane_lists"], output_format="html")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above
