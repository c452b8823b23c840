"""A content page: its text is Markdown written by staff, rendered and sanitised in pages.rendering."""

from django.db import models
from django.urls import reverse
from django.utils.functional import cached_property


class Page(models.Model):
    slug = models.SlugField(max_length=80, unique=True, help_text="The address: /info/<slug>/.")
    title = models.CharField(max_length=120)
    summary = models.CharField(max_length=160, help_text="Search engine snippet, 160 characters.")
    body = models.TextField(
        help_text="Markdown. Tables, headings and links are kept; scripts, styles and event attributes are removed."
    )
    is_published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("title",)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("pages:page-detail", kwargs={"slug": self.slug})

    @cached_property
    def body_html(self) -> str:
        from .rendering import markdown_to_safe_html

        return markdown_to_safe_html(self.body)
