"""Staff photo uploads in the admin (issue #5).

"Add product image" is a form of its own, not an inline row, so a storage failure can be shown
as a clear message with nothing half-saved. With S3 configured, static/js/admin-upload.js asks
`presign/` for a presigned POST, sends the file straight to the bucket and submits the form with
a signed token naming the upload; the server then fetches, checks and re-encodes it. Without
JavaScript, or with local storage, the file comes through Django and meets the same checks.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from .image_slot import ImageBusyError
from .images import ACCEPTED_CONTENT_TYPES, ImageRejectedError
from .models import Product, ProductImage, ProductVariant
from .services.image_records import product_image_create, product_image_delete
from .storage import ImageStorageError, direct_upload_enabled, upload_key_from_token, upload_presign

STORAGE_DOWN_MESSAGE = (
    "Image storage could not be reached, so nothing was saved. Please try again in a minute; "
    "if it keeps failing, tell whoever looks after the shop's hosting."
)


class ProductImageUploadForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.order_by("name"))
    variant = forms.ModelChoiceField(
        queryset=ProductVariant.objects.select_related("product").order_by("product__name", "position", "pk"),
        required=False,
        help_text="Only if the photo shows one variant (the rose-gold photo for rose gold).",
    )
    alt_text = forms.CharField(
        max_length=200, help_text="Describe the photo for shoppers using screen readers (required)."
    )
    position = forms.IntegerField(min_value=0, max_value=32767, initial=0, help_text="Lower numbers come first.")
    file = forms.FileField(
        label="Photo",
        required=False,
        widget=forms.FileInput(attrs={"accept": ",".join(ACCEPTED_CONTENT_TYPES)}),
        help_text="JPEG, PNG or WebP. Renditions for the shop are made once, when you upload.",
    )
    upload_token = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        product_id = self.data.get("product") or self.initial.get("product")
        # Offer only that product's variants; ASCII digits only (isdigit() takes "²", which the lookup refuses).
        if str(product_id or "").isascii() and str(product_id or "").isdigit():
            self.fields["variant"].queryset = self.fields["variant"].queryset.filter(product_id=product_id)

    def clean(self):
        data = super().clean()
        if not data.get("file") and not data.get("upload_token"):
            self.add_error("file", "Choose a photo (JPEG, PNG or WebP).")
        product, variant = data.get("product"), data.get("variant")
        if product and variant and variant.product_id != product.pk:
            self.add_error("variant", "Choose a variant of this product.")
        return data


def image_thumbnail(image: ProductImage, size: int = 96) -> str:
    if not image.image:
        return "—"
    height = round(size * image.height / image.width) if image.width and image.height else size
    return format_html(
        '<img src="{}" alt="{}" width="{}" height="{}" loading="lazy">',
        image.src_url,
        image.alt_text,
        size,
        height,
    )


class ProductImageAdmin(admin.ModelAdmin):
    """Registered in catalog/admin.py. Adding goes through the upload form; editing changes text only."""

    list_display = ("thumbnail", "alt_text", "product", "variant", "position")
    list_select_related = ("product", "variant")
    search_fields = ("alt_text", "product__name")
    fields = ("large_thumbnail", "product", "variant", "alt_text", "position", "rendition_summary")
    readonly_fields = ("large_thumbnail", "product", "rendition_summary")

    @admin.display(description="Photo")
    def thumbnail(self, obj: ProductImage) -> str:
        return image_thumbnail(obj)

    @admin.display(description="Photo")
    def large_thumbnail(self, obj: ProductImage) -> str:
        return image_thumbnail(obj, size=320)

    @admin.display(description="Renditions")
    def rendition_summary(self, obj: ProductImage) -> str:
        if not obj.renditions:
            return "None yet: run `manage.py rebuild_renditions`."
        return ", ".join(f"{r['width']}px {r['format']} ({r['bytes'] // 1024} KB)" for r in obj.renditions)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and "variant" in form.base_fields:  # only this product's variants
            field = form.base_fields["variant"]
            field.queryset = field.queryset.filter(product=obj.product_id)
        return form

    def get_urls(self):
        presign = self.admin_site.admin_view(require_POST(self.presign_view))
        return [path("presign/", presign, name="catalog_productimage_presign"), *super().get_urls()]

    def presign_view(self, request: HttpRequest) -> JsonResponse:
        """A presigned POST for one direct upload (JSON), for admin-upload.js."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        if not direct_upload_enabled():
            return JsonResponse({"error": "Direct uploads need S3 storage; send the file with the form."}, status=404)
        return JsonResponse(upload_presign(user_id=request.user.pk))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """Upload one photo: validate, re-encode, make renditions, store, then record it."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        status = 200
        if request.method == "POST":
            form = ProductImageUploadForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    image = self._create(request, form.cleaned_data)
                except ImageBusyError as exc:  # another photo is being decoded on this machine: nothing was lost
                    form.add_error(None, exc)
                    status = 503
                except ImageRejectedError as exc:
                    form.add_error("file", exc)
                except ValidationError as exc:
                    form.add_error(None, exc)
                except ImageStorageError:
                    form.add_error(None, STORAGE_DOWN_MESSAGE)
                    status = 503
                else:
                    self.log_addition(request, image, [{"added": {}}])  # the admin's history, as for any add
                    count = len(image.renditions)
                    messages.success(request, f"Photo “{image.alt_text}” added with {count} renditions.")
                    return HttpResponseRedirect(self._after_add_url(image))
            # A token names an upload that is now used up or refused: the file must be chosen again.
            form.data = form.data.copy()
            form.data["upload_token"] = ""
        else:
            form = ProductImageUploadForm(initial={"product": request.GET.get("product")})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add product photo",
            "form": form,
            "presign_url": reverse("admin:catalog_productimage_presign") if direct_upload_enabled() else "",
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/catalog/productimage/upload.html", context, status=status)

    def _create(self, request: HttpRequest, data: dict) -> ProductImage:
        fields = {
            "product": data["product"],
            "alt_text": data["alt_text"],
            "variant": data["variant"],
            "position": data["position"],
        }
        if data.get("upload_token"):
            key = upload_key_from_token(token=data["upload_token"], user_id=request.user.pk)
            return product_image_create(upload_key=key, **fields)
        return product_image_create(file=data["file"], **fields)

    def _after_add_url(self, image: ProductImage) -> str:
        if self.admin_site.is_registered(Product):
            return reverse("admin:catalog_product_change", args=[image.product_id])
        return reverse("admin:catalog_productimage_changelist")

    def delete_model(self, request: HttpRequest, obj: ProductImage) -> None:
        product_image_delete(image=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for image in queryset:
            product_image_delete(image=image)
