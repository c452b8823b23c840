"""A realistic catalogue at benchmark scale, loaded in seconds with bulk_create.

10,000 products (3 variants each, one image record each, categories with parents, a few
collections). Image records share a handful of small JPEGs so the load stays fast; stock is
large so order placement never runs out during a run.
"""

import random
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils.text import slugify

from catalog.images import renditions_make
from catalog.models import Category, Collection, Gemstone, Metal, Product, ProductImage, ProductVariant

STAFF_USERNAME = "bench-staff"
STAFF_PASSWORD = "bench-staff-password-loopback-only"  # noqa: S105 (throwaway database, loopback only)
BIG_STOCK = 1_000_000

CATEGORY_TREE = {
    "Rings": ["Engagement rings", "Wedding bands", "Signet rings", "Stacking rings"],
    "Necklaces": ["Pendants", "Chains", "Chokers"],
    "Earrings": ["Studs", "Hoops", "Drops"],
    "Bracelets": ["Bangles", "Tennis bracelets", "Charm bracelets"],
    "Brooches": [],
}
ADJECTIVES = [
    "Aurora",
    "Celeste",
    "Luna",
    "Solstice",
    "Marina",
    "Verdant",
    "Ember",
    "Halcyon",
    "Iris",
    "Juniper",
    "Lumen",
    "Meridian",
    "Nova",
    "Opaline",
    "Perla",
    "Rosalind",
    "Seraphine",
    "Tempest",
    "Vesper",
    "Willow",
]
SHAPES = ["Twist", "Halo", "Solitaire", "Cluster", "Bezel", "Pavé", "Eternity", "Knot", "Crescent", "Petal"]
PHRASES = [
    "Hand-finished in our London workshop.",
    "Set with ethically sourced stones and polished to a mirror shine.",
    "A quiet piece for every day, made to be worn for decades.",
    "Recycled precious metal, hallmarked at the Assay Office.",
    "Each stone is chosen by eye for colour and clarity.",
    "Arrives in a linen box with a care card.",
    "Light enough to forget you are wearing it.",
    "Inspired by the shapes of the Cornish coast.",
]
RING_SIZES = ["J", "L", "N", "P"]
SHARED_IMAGES = 6
IMAGE_SIZE = 1400


def _shared_images(media_root: Path) -> list[tuple[str, int, int, list[dict]]]:
    """A few photos that every image record points at: (name under MEDIA_ROOT, width, height, renditions).

    Renditions are made the shop's way (catalog.images, WebP + JPEG per width), so product cards
    carry the same srcset markup as real uploads.
    """
    from PIL import Image, ImageDraw

    folder = media_root / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(SHARED_IMAGES):
        image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (244, 239, 230))
        draw = ImageDraw.Draw(image)
        tone = (180 - index * 12, 150 - index * 8, 80 + index * 10)
        edge = IMAGE_SIZE // 4
        draw.ellipse((edge, edge, IMAGE_SIZE - edge, IMAGE_SIZE - edge), outline=tone, width=IMAGE_SIZE // 20)
        name = f"bench/piece-{index}.jpg"
        buffer = BytesIO()
        image.save(buffer, format="JPEG", quality=70)
        (media_root / name).write_bytes(buffer.getvalue())
        files.append((name, IMAGE_SIZE, IMAGE_SIZE, _renditions(image, media_root, f"bench/piece-{index}")))
    return files


def _renditions(image, media_root: Path, stem: str) -> list[dict]:
    records = []
    for rendition in renditions_make(image):
        name = f"{stem}-w{rendition.width}.{rendition.extension}"
        (media_root / name).write_bytes(rendition.data)
        records.append(
            {
                "width": rendition.width,
                "height": rendition.height,
                "format": rendition.format,
                "name": name,
                "bytes": len(rendition.data),
            }
        )
    return records


def _categories() -> list[Category]:
    """Leaf categories (the top level where it has no children), each with ``top_name`` set."""
    leaves: list[Category] = []
    for position, (name, children) in enumerate(CATEGORY_TREE.items()):
        parent, _ = Category.objects.get_or_create(
            slug=slugify(name), defaults={"name": name, "position": position, "description": f"All {name.lower()}."}
        )
        parent.top_name = name
        if not children:
            leaves.append(parent)
        for child_position, child in enumerate(children):
            category, _ = Category.objects.get_or_create(
                slug=slugify(child),
                defaults={"name": child, "parent": parent, "position": child_position, "description": f"{child}."},
            )
            category.top_name = name
            leaves.append(category)
    return leaves


def catalogue_load(*, products: int = 10_000, seed: int = 7) -> dict[str, int]:
    """Create ``products`` products with 3 variants and 1 image record each; returns row counts."""
    rng = random.Random(seed)
    images = _shared_images(Path(settings.MEDIA_ROOT))
    metals = [m.value for m in Metal]
    stones = [g.value for g in Gemstone]
    with transaction.atomic():
        leaves = _categories()
        collections = [
            Collection.objects.get_or_create(slug=slugify(name), defaults={"name": name})[0]
            for name in ("Coastline", "Heirloom", "Midnight", "Everyday", "Bridal")
        ]
        start = Product.objects.count()
        new_products = []
        for offset in range(products):
            number = start + offset
            category = leaves[number % len(leaves)]
            stone = stones[rng.randrange(len(stones))]
            kind = category.top_name.rstrip("s")
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(SHAPES)} {Gemstone(stone).label if stone else ''} {kind}"
            name = " ".join(name.split()) + f" {number:05d}"
            new_products.append(
                Product(
                    name=name,
                    slug=f"{slugify(name)}",
                    description=" ".join(rng.sample(PHRASES, 3)),
                    category=category,
                    metal=metals[number % len(metals)],
                    gemstone=stone,
                    is_featured=number % 800 == 0,
                    is_engravable=kind == "Ring",
                    seo_description=f"{name}, hand-finished jewelry from {settings.SHOP_NAME}.",
                )
            )
        created = Product.objects.bulk_create(new_products, batch_size=2000)
        variants, image_rows, memberships = [], [], []
        through = Product.collections.through
        for product in created:
            is_ring = product.category.top_name == "Rings"
            base = Decimal(rng.randrange(60, 4000))
            for position in range(3):
                variants.append(
                    ProductVariant(
                        product=product,
                        sku=f"B{product.pk:06d}-{position}",
                        metal=metals[(metals.index(product.metal) + position) % len(metals)],
                        ring_size=RING_SIZES[position] if is_ring else "",
                        price=base + Decimal(position * 45) + Decimal("0.00"),
                        stock=BIG_STOCK,
                        low_stock_threshold=2,
                        position=position,
                    )
                )
            image, width, height, renditions = images[product.pk % len(images)]
            image_rows.append(
                ProductImage(
                    product=product,
                    image=image,
                    width=width,
                    height=height,
                    alt_text=f"{product.name} on linen",
                    renditions=renditions,
                )
            )
            if product.pk % 3 == 0:
                memberships.append(through(product_id=product.pk, collection_id=collections[product.pk % 5].pk))
        # Bulk writes refresh the stored price ranges and bump the cache versions like saves do
        # (catalog.models.CatalogueQuerySet), once more when this transaction commits: that last bump
        # also covers the memberships and the raw UPDATE of dates written below in the same transaction.
        ProductVariant.objects.bulk_create(variants, batch_size=5000)
        ProductImage.objects.bulk_create(image_rows, batch_size=5000)
        through.objects.bulk_create(memberships, batch_size=5000)
        # Spread creation dates so "newest" ordering and the date index behave as in a real shop.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE catalog_product SET created_at = now() - (id * interval '17 minutes') WHERE id >= %s",
                [created[0].pk if created else 0],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    staff_ensure()
    return {
        "categories": Category.objects.count(),
        "products": Product.objects.count(),
        "variants": ProductVariant.objects.count(),
        "images": ProductImage.objects.count(),
    }


def staff_ensure() -> None:
    """A superuser the drills sign in with (throwaway database only)."""
    user_model = get_user_model()
    if not user_model.objects.filter(username=STAFF_USERNAME).exists():
        user_model.objects.create_superuser(STAFF_USERNAME, f"{STAFF_USERNAME}@example.com", STAFF_PASSWORD)
