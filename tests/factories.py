"""factory_boy factories shared by every test package."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from catalog.models import Category, Metal, Product, ProductImage, ProductVariant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"shopper{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class StaffUserFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    is_superuser = True


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Aurora Ring {n}")
    slug = factory.Sequence(lambda n: f"aurora-ring-{n}")
    description = "A hand-finished piece."
    category = factory.SubFactory(CategoryFactory)
    metal = Metal.YELLOW_GOLD
    is_active = True


class ProductVariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductVariant

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    metal = factory.SelfAttribute("product.metal")
    price = Decimal("250.00")
    stock = 3


def tiny_png() -> bytes:
    """A real 4x4 PNG made by Pillow, so image fields validate."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), (200, 170, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


class ProductImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductImage

    product = factory.SubFactory(ProductFactory)
    image = factory.LazyFunction(lambda: ContentFile(tiny_png(), name="photo.png"))
    width = 4  # what tiny_png() draws; ProductImage does not read dimensions from the file (helper E)
    height = 4
    alt_text = factory.LazyAttribute(lambda i: f"{i.product.name} on a linen background")
