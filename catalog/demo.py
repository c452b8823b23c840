"""The demo catalogue `make run` loads: about sixty believable pieces with variants, stock and drawn photos.

Loading is idempotent: categories, collections and products are keyed by slug, variants by SKU and images
by (product, position); what exists is left alone (staff may have edited it), only what is missing is added.
"""

import logging
import os
import random
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils.text import slugify

from . import demo_images
from .images import ProcessedImage
from .models import Category, Collection, Gemstone, Metal, Product, ProductImage, ProductVariant
from .services.image_records import product_image_create

log = logging.getLogger(__name__)

YG, WG, RG, SV, PT = Metal.YELLOW_GOLD, Metal.WHITE_GOLD, Metal.ROSE_GOLD, Metal.SILVER, Metal.PLATINUM
RING_SIZES = ("J", "L", "N", "P")
MAX_IMAGES_PER_PRODUCT = 3
# Drawing and re-encoding a photo is pure CPU and holds the GIL, so photos are prepared in worker
# processes; more than four buys little for ~120 pictures and costs memory.
MAX_IMAGE_WORKERS = 4

METAL_CODES = {YG: "YG", WG: "WG", RG: "RG", SV: "SV", PT: "PT"}
METAL_WORDS = {
    YG: "18ct yellow gold",
    WG: "18ct white gold",
    RG: "18ct rose gold",
    SV: "sterling silver",
    PT: "950 platinum",
}
# Relative metal cost: a product's listed price is for its first metal; the others scale from it.
METAL_PRICE_FACTOR = {
    YG: Decimal("1.0"),
    WG: Decimal("1.0"),
    RG: Decimal("1.0"),
    PT: Decimal("1.25"),
    SV: Decimal("0.4"),
}
STONE_WORDS = {
    Gemstone.DIAMOND: "diamonds",
    Gemstone.SAPPHIRE: "sapphire",
    Gemstone.EMERALD: "emerald",
    Gemstone.RUBY: "ruby",
    Gemstone.PEARL: "freshwater pearl",
    Gemstone.AMETHYST: "amethyst",
    Gemstone.TOPAZ: "blue topaz",
    Gemstone.OPAL: "opal",
}

CATEGORIES = [
    # slug, name, parent slug, position, description
    (
        "rings",
        "Rings",
        None,
        1,
        "Engagement rings, wedding bands and rings for every day, made in our London workshop.",
    ),
    ("engagement-rings", "Engagement rings", "rings", 1, "Solitaires, halos and trilogy rings with ethical stones."),
    ("wedding-bands", "Wedding bands", "rings", 2, "Court, flat and eternity bands to wear for a lifetime."),
    ("dress-rings", "Dress rings", "rings", 3, "Colour, cocktail rings and signets."),
    ("necklaces", "Necklaces", None, 2, "Pendants, lockets and fine chains."),
    ("earrings", "Earrings", None, 3, "Studs, hoops and drops, sold in pairs."),
    ("bracelets", "Bracelets", None, 4, "Bangles, cuffs, chains and tennis bracelets."),
]
COLLECTIONS = [
    ("solstice", "Solstice", "Warm gold and engraved sun rays, inspired by the longest day of the year."),
    ("tide-and-pearl", "Tide & Pearl", "Pearls and sea-blue stones, for summers by the coast."),
    (
        "heirloom",
        "Heirloom",
        "Halos, old-cut shapes and coloured stones in the spirit of a grandmother's jewellery box.",
    ),
]
CATEGORY_NOTES = {
    "ring": "Made in our London workshop in UK sizes J to P; other sizes on request.",
    "necklace": "Comes on an adjustable 40–45cm chain.",
    "earrings": "Sold as a pair.",
    "bracelet": "Fits wrists up to 18cm; ask us about a longer fit.",
}
BACKDROPS = {"ring": "cream", "necklace": "blush", "earrings": "stone", "bracelet": "sage"}


@dataclass(frozen=True)
class DemoProduct:
    name: str
    category: str
    kind: str  # drawing: ring, necklace, earrings, bracelet
    style: str  # drawing variant: solitaire, halo, band, pendant, stud, tennis...
    metals: tuple[str, ...]
    gemstone: str
    price: str  # in GBP, for the first metal
    blurb: str
    featured: bool = False
    collections: tuple[str, ...] = ()
    sold_out: bool = False

    @property
    def slug(self) -> str:
        return slugify(self.name)

    @property
    def engravable(self) -> bool:
        return self.kind == "ring" or self.style in ("bangle", "cuff", "disc")


def _p(name, category, kind, style, metals, gemstone, price, blurb, **flags) -> DemoProduct:
    return DemoProduct(name, category, kind, style, tuple(metals), gemstone, price, blurb, **flags)


DIA, SAP, EME, RUB, PRL, AME, TOP, OPL, NO_STONE = (
    Gemstone.DIAMOND,
    Gemstone.SAPPHIRE,
    Gemstone.EMERALD,
    Gemstone.RUBY,
    Gemstone.PEARL,
    Gemstone.AMETHYST,
    Gemstone.TOPAZ,
    Gemstone.OPAL,
    Gemstone.NONE,
)
ENG, WED, DRS = "engagement-rings", "wedding-bands", "dress-rings"

PRODUCTS = [
    _p("Solstice Solitaire Ring", ENG, "ring", "solitaire", [YG, WG, PT], DIA, "1850.00",
       "A single 0.5ct round brilliant diamond held high in four slender claws on a softly rounded 2mm band. "
       "Quietly classic, made to be worn every day.", featured=True, collections=("solstice",)),
    _p("Celeste Halo Ring", ENG, "ring", "halo", [WG, PT, RG], DIA, "2450.00",
       "A 0.4ct round diamond ringed by twenty pavé-set diamonds, so the centre stone reads larger than it is "
       "and catches light from every side.", featured=True, collections=("heirloom",)),
    _p("Aurelia Oval Sapphire Ring", ENG, "ring", "halo", [WG, YG], SAP, "2100.00",
       "A cornflower-blue oval sapphire of 0.8ct framed by a halo of brilliant-cut diamonds, on a fine "
       "knife-edge band.", collections=("heirloom",)),
    _p("Trinity Trilogy Ring", ENG, "ring", "trilogy", [PT, YG], DIA, "3200.00",
       "Three round brilliant diamonds for past, present and future, graduated from 0.3ct at the centre to "
       "0.15ct at each side.", featured=True),
    _p("Verdant Emerald Trilogy Ring", ENG, "ring", "trilogy", [YG, WG], EME, "2750.00",
       "A bright Colombian emerald flanked by two round diamonds, each in its own fine claw setting.",
       collections=("heirloom",)),
    _p("Lumière Solitaire Ring", ENG, "ring", "solitaire", [PT, WG], DIA, "4800.00",
       "Our largest solitaire: a 1ct round brilliant diamond, GIA certified, raised in a platinum cathedral "
       "setting that lets light in beneath the stone."),
    _p("Rosalind Ruby Solitaire Ring", ENG, "ring", "solitaire", [RG, YG], RUB, "1650.00",
       "A round ruby of deep pigeon-blood red in four rounded claws, glowing warm against rose gold."),
    _p("Opaline Solitaire Ring", ENG, "ring", "solitaire", [YG, SV], OPL, "640.00",
       "A milky Australian opal cabochon that flashes green, rose and violet as your hand moves."),
    _p("Classic Court Wedding Band 3mm", WED, "ring", "band", [YG, WG, PT], NO_STONE, "480.00",
       "A 3mm court-profile band, rounded inside and out so it slips on easily and sits comfortably all day."),
    _p("Heritage Court Band 5mm", WED, "ring", "band", [YG, PT, WG], NO_STONE, "780.00",
       "A substantial 5mm court band with a polished finish, weighted to feel reassuring on the hand."),
    _p("Flat Edge Wedding Band 4mm", WED, "ring", "band", [WG, RG], NO_STONE, "620.00",
       "Clean flat edges and a gently curved top: a modern 4mm band that pairs well with a solitaire."),
    _p("Diamond Eternity Band", WED, "ring", "eternity", [PT, YG, WG], DIA, "2200.00",
       "Twenty-two round diamonds, 1ct in total, set all the way round in a fine shared-claw setting.",
       featured=True),
    _p("Half Eternity Sapphire Band", WED, "ring", "eternity", [WG, YG], SAP, "1350.00",
       "Eleven blue sapphires across the top of a slim band, lovely stacked beside an engagement ring."),
    _p("Whisper Pavé Band", WED, "ring", "eternity", [RG, WG], DIA, "980.00",
       "A whisper-thin band with a row of tiny pavé diamonds across its top half.", sold_out=True),
    _p("Midnight Sapphire Cocktail Ring", DRS, "ring", "cocktail", [WG], SAP, "2950.00",
       "A 2ct oval sapphire of midnight blue in a double diamond halo: an evening ring with presence.",
       collections=("heirloom",)),
    _p("Violet Hour Amethyst Ring", DRS, "ring", "cocktail", [YG, SV], AME, "540.00",
       "A generous oval amethyst the colour of dusk, framed with small white topaz."),
    _p("Sea Glass Topaz Ring", DRS, "ring", "solitaire", [SV, WG], TOP, "145.00",
       "A round Swiss blue topaz in a simple claw setting, as clear as shallow water.",
       collections=("tide-and-pearl",)),
    _p("Sunlit Signet Ring", DRS, "ring", "band", [YG, SV], NO_STONE, "690.00",
       "A softly cushioned signet with room for a hand-engraved initial or family crest.",
       collections=("solstice",)),
    _p("Tide Pearl Ring", DRS, "ring", "solitaire", [SV, YG], PRL, "120.00",
       "A single lustrous freshwater pearl on a fine band: simple, bright and easy to wear.",
       collections=("tide-and-pearl",)),
    _p("Ember Ruby Halo Ring", DRS, "ring", "halo", [RG, YG], RUB, "1480.00",
       "A round ruby surrounded by a halo of diamonds, like an ember in a ring of sparks."),
    _p("Soleil Stacking Ring", DRS, "ring", "band", [SV, YG, RG], NO_STONE, "85.00",
       "A 1.5mm polished band made for stacking; wear one alone or three in mixed metals.",
       collections=("solstice",)),
    _p("Glade Emerald Cocktail Ring", DRS, "ring", "cocktail", [YG, PT], EME, "3600.00",
       "A vivid 1.5ct emerald in a halo of diamonds, on a tapering band.", collections=("heirloom",)),
    _p("Solstice Sun Disc Pendant", "necklaces", "necklace", "disc", [YG, SV], DIA, "395.00",
       "A hand-engraved sunburst disc with a single diamond at its heart; the back can be engraved.",
       featured=True, collections=("solstice",)),
    _p("Celeste Diamond Pendant", "necklaces", "necklace", "pendant", [WG, YG, RG], DIA, "1250.00",
       "A 0.3ct round brilliant diamond in a fine bezel, suspended from a delicate trace chain."),
    _p("Tide Pearl Pendant", "necklaces", "necklace", "pearl", [SV, YG], PRL, "165.00",
       "A round 9mm freshwater pearl with a soft rosé lustre, hung from a fine chain.",
       collections=("tide-and-pearl",)),
    _p("Sapphire Drop Pendant", "necklaces", "necklace", "pendant", [WG, PT], SAP, "980.00",
       "A deep blue round sapphire in a polished collar setting, sitting just below the collarbone."),
    _p("Rosa Ruby Pendant", "necklaces", "necklace", "pendant", [RG, YG], RUB, "860.00",
       "A warm red ruby in a rose gold bezel: a quiet splash of colour for every day."),
    _p("Verdant Emerald Pendant", "necklaces", "necklace", "pendant", [YG], EME, "1150.00",
       "A bright round emerald in a yellow gold setting, inspired by a Victorian keepsake.",
       collections=("heirloom",)),
    _p("Amethyst Dewdrop Pendant", "necklaces", "necklace", "pendant", [SV, YG], AME, "135.00",
       "A faceted amethyst in a simple round setting, the colour of lavender at dusk."),
    _p("Sea Glass Topaz Pendant", "necklaces", "necklace", "pendant", [SV, WG], TOP, "125.00",
       "A Swiss blue topaz in a silver bezel, cool and clear as the sea.", collections=("tide-and-pearl",)),
    _p("Fine Cable Chain 45cm", "necklaces", "necklace", "chain", [YG, WG, RG], NO_STONE, "240.00",
       "A fine 1.2mm cable chain with a bolt ring clasp, to wear alone or with a pendant."),
    _p("Belcher Chain 50cm", "necklaces", "necklace", "chain", [SV, YG], NO_STONE, "95.00",
       "A classic rounded belcher chain with a little more weight, finished with a lobster clasp."),
    _p("Opal Moon Pendant", "necklaces", "necklace", "pendant", [YG, SV], OPL, "310.00",
       "A round opal cabochon, full of soft colour, in a fine polished bezel."),
    _p("Initial Disc Necklace", "necklaces", "necklace", "disc", [SV, YG, RG], NO_STONE, "110.00",
       "A small polished disc, engraved by hand with the initial of your choice."),
    _p("Heirloom Locket", "necklaces", "necklace", "disc", [YG], NO_STONE, "720.00",
       "A round locket with an engraved sunburst lid and room inside for two small photographs.",
       collections=("heirloom",)),
    _p("Solitaire Diamond Necklace 0.25ct", "necklaces", "necklace", "pendant", [WG, YG, PT], DIA, "690.00",
       "A 0.25ct round diamond in a four-claw setting that seems to float on the chain.", sold_out=True),
    _p("Classic Diamond Studs 0.5ct", "earrings", "earrings", "stud", [WG, YG, PT], DIA, "1150.00",
       "A pair of round brilliant diamonds, 0.5ct in total, in four-claw settings with secure screw backs.",
       featured=True),
    _p("Tide Pearl Studs", "earrings", "earrings", "stud", [SV, YG], PRL, "95.00",
       "Round 7mm freshwater pearls with a soft, even lustre.", collections=("tide-and-pearl",)),
    _p("Sapphire Studs", "earrings", "earrings", "stud", [WG, YG], SAP, "640.00",
       "Round blue sapphires in four-claw settings, a classic for every occasion."),
    _p("Emerald Studs", "earrings", "earrings", "stud", [YG], EME, "720.00",
       "Bright round emeralds set in yellow gold.", collections=("heirloom",)),
    _p("Amethyst Studs", "earrings", "earrings", "stud", [SV], AME, "89.00",
       "Small round amethysts in silver claws, a gentle touch of purple."),
    _p("Everyday Hoops 15mm", "earrings", "earrings", "hoop", [YG, RG, SV], NO_STONE, "260.00",
       "Light, polished 15mm hoops with a hinged click fastening that stays closed."),
    _p("Statement Hoops 25mm", "earrings", "earrings", "hoop", [YG, SV], NO_STONE, "340.00",
       "Bolder 25mm hoops in a rounded tube, light enough to wear all evening."),
    _p("Diamond Huggie Hoops", "earrings", "earrings", "hoop", [WG, YG], DIA, "890.00",
       "Small hoops that hug the lobe, set with a row of round diamonds along the front.", featured=True),
    _p("Sapphire Huggie Hoops", "earrings", "earrings", "hoop", [WG], SAP, "760.00",
       "Huggie hoops lined with small blue sapphires.", sold_out=True),
    _p("Pearl Drop Earrings", "earrings", "earrings", "drop", [YG, SV], PRL, "210.00",
       "Round freshwater pearls hanging from fine hook wires.", collections=("tide-and-pearl",)),
    _p("Ruby Drop Earrings", "earrings", "earrings", "drop", [RG, YG], RUB, "980.00",
       "Oval rubies in polished bezels, swinging from slender hooks."),
    _p("Topaz Drop Earrings", "earrings", "earrings", "drop", [SV, WG], TOP, "145.00",
       "Swiss blue topaz drops on silver hooks.", collections=("tide-and-pearl",)),
    _p("Solstice Diamond Studs 0.25ct", "earrings", "earrings", "stud", [YG], DIA, "560.00",
       "Small round diamonds in warm yellow gold: the first pair of diamond studs.", collections=("solstice",)),
    _p("Opal Drop Earrings", "earrings", "earrings", "drop", [YG, SV], OPL, "380.00",
       "Opal cabochons full of colour, hanging from fine hooks."),
    _p("Diamond Tennis Bracelet", "bracelets", "bracelet", "tennis", [WG, YG], DIA, "3900.00",
       "Forty round diamonds, 2ct in total, in a flexible line with a hidden box clasp and safety catch.",
       featured=True),
    _p("Sapphire Tennis Bracelet", "bracelets", "bracelet", "tennis", [WG], SAP, "3400.00",
       "A line of forty blue sapphires, each in its own claw setting, on a supple white gold band."),
    _p("Solstice Bangle", "bracelets", "bracelet", "bangle", [YG, RG], NO_STONE, "640.00",
       "A slim oval bangle with a polished finish; the inside can carry a hand-engraved message.",
       collections=("solstice",)),
    _p("Slim Silver Bangle", "bracelets", "bracelet", "bangle", [SV], NO_STONE, "85.00",
       "A fine round bangle in polished sterling silver, lovely stacked in threes."),
    _p("Hammered Cuff", "bracelets", "bracelet", "cuff", [SV, YG], NO_STONE, "175.00",
       "An open cuff with a softly hammered surface that catches the light."),
    _p("Fine Chain Bracelet", "bracelets", "bracelet", "chain", [SV, YG, RG], NO_STONE, "95.00",
       "A delicate trace chain bracelet with an extender, for wearing every day."),
    _p("Topaz Charm Bracelet", "bracelets", "bracelet", "chain", [SV], TOP, "120.00",
       "A fine silver chain with a single Swiss blue topaz charm.", collections=("tide-and-pearl",)),
    _p("Ember Ruby Bangle", "bracelets", "bracelet", "bangle", [YG], RUB, "1450.00",
       "A yellow gold bangle with three rubies set across the front."),
    _p("Pearl Charm Bracelet", "bracelets", "bracelet", "chain", [SV, YG], PRL, "130.00",
       "A fine chain bracelet with a single freshwater pearl charm.", collections=("tide-and-pearl",)),
    _p("Verdant Emerald Cuff", "bracelets", "bracelet", "cuff", [YG], EME, "1980.00",
       "A wide yellow gold cuff set with three emeralds in polished collars.", collections=("heirloom",)),
]  # fmt: skip


@dataclass
class LoadCounts:
    total: int = 0
    created: int = 0

    def __str__(self) -> str:
        return f"{self.total} ({self.created} new)"


@dataclass
class DemoLoadResult:
    categories: LoadCounts = field(default_factory=LoadCounts)
    collections: LoadCounts = field(default_factory=LoadCounts)
    products: LoadCounts = field(default_factory=LoadCounts)
    variants: LoadCounts = field(default_factory=LoadCounts)
    images: LoadCounts = field(default_factory=LoadCounts)

    def __str__(self) -> str:
        return (
            f"Demo catalogue: categories {self.categories}, collections {self.collections}, "
            f"products {self.products}, variants {self.variants}, images {self.images}."
        )


# --- Pure helpers: what the catalogue contains ----------------------------------------------------------


def _product_code(index_in_category: int, category: str) -> str:
    prefix = {ENG: "ENG", WED: "WED", DRS: "DRS", "necklaces": "NEC", "earrings": "EAR", "bracelets": "BRC"}[category]
    return f"MA-{prefix}{index_in_category:02d}"


def _price(item: DemoProduct, metal: str) -> Decimal:
    raw = Decimal(item.price) * METAL_PRICE_FACTOR[metal] / METAL_PRICE_FACTOR[item.metals[0]]
    step = Decimal(5) if raw < 200 else Decimal(10)
    return ((raw / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step).quantize(Decimal("0.01"))


def _stock(sku: str, code: str, item: DemoProduct) -> int:
    """Repeatable stock (seeded by product code and SKU): most pieces well stocked, about a third with a
    size or metal running out (0 or 1), so the admin's low-stock filter has a believable short list."""
    if item.sold_out:
        return 0
    running_low = random.Random(code).random() < 0.35
    pick = random.Random(sku)
    if running_low and pick.random() < 0.3:
        return pick.choice([0, 1, 1])
    return pick.choice([3, 4, 5, 6, 8, 10, 12])


def demo_variant_rows(item: DemoProduct, code: str) -> list[dict]:
    """The variants of one demo product: metals x ring sizes for rings, one per metal otherwise."""
    sizes = RING_SIZES if item.kind == "ring" else ("",)
    rows = []
    for metal in item.metals:
        for ring_size in sizes:
            sku = "-".join(part for part in (code, METAL_CODES[metal], ring_size) if part)
            rows.append(
                {
                    "sku": sku,
                    "metal": metal,
                    "ring_size": ring_size,
                    "price": _price(item, metal),
                    "stock": _stock(sku, code, item),
                    "low_stock_threshold": 1 if item.kind == "ring" else 2,
                    "position": len(rows),
                }
            )
    return rows


def _description(item: DemoProduct) -> str:
    metals = [METAL_WORDS[m] for m in item.metals]
    available = metals[0] if len(metals) == 1 else f"{', '.join(metals[:-1])} or {metals[-1]}"
    return f"{item.blurb}\n\nAvailable in {available}. {CATEGORY_NOTES[item.kind]}"


def _seo_description(item: DemoProduct) -> str:
    metals = " or ".join(METAL_WORDS[m] for m in item.metals[:2])
    stone = f", set with {STONE_WORDS[item.gemstone]}" if item.gemstone else ""
    text = f"{item.name} in {metals}{stone}. Handmade in London by Maison Aurelia, with free UK delivery."
    return textwrap.shorten(text, width=160, placeholder="…")


def demo_alt_text(item: DemoProduct, metal: str) -> str:
    stone = f" set with {STONE_WORDS[item.gemstone]}" if item.gemstone else ""
    return f"{item.name} in {METAL_WORDS[metal]}{stone}, photographed on a soft {BACKDROPS[item.kind]} background"


# --- Writing ----------------------------------------------------------------------------------------------


def demo_image_create(
    *, product: Product, variant: ProductVariant | None, processed: ProcessedImage, alt_text: str, position: int
) -> ProductImage:
    """Store one prepared demo photo with its renditions. The single place demo images are written."""
    return product_image_create(
        product=product, processed=processed, alt_text=alt_text, variant=variant, position=position
    )


def _load_categories(result: DemoLoadResult) -> dict[str, Category]:
    categories: dict[str, Category] = {}
    for slug, name, parent, position, description in CATEGORIES:
        category, created = Category.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "parent": categories.get(parent),
                "position": position,
                "description": description,
                "seo_description": f"{name} from Maison Aurelia: {description}"[:160],
            },
        )
        categories[slug] = category
        result.categories.total += 1
        result.categories.created += created
    return categories


def _load_collections(result: DemoLoadResult) -> dict[str, Collection]:
    collections = {}
    for slug, name, description in COLLECTIONS:
        collection, created = Collection.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description}
        )
        collections[slug] = collection
        result.collections.total += 1
        result.collections.created += created
    return collections


def _load_products(result: DemoLoadResult, items: list[DemoProduct]) -> dict[str, Product]:
    categories = _load_categories(result)
    collections = _load_collections(result)
    products = {p.slug: p for p in Product.objects.filter(slug__in=[item.slug for item in items])}
    for item in items:
        result.products.total += 1
        if item.slug in products:
            continue
        product = Product.objects.create(
            name=item.name,
            slug=item.slug,
            description=_description(item),
            category=categories[item.category],
            metal=item.metals[0],
            gemstone=item.gemstone,
            is_featured=item.featured,
            is_engravable=item.engravable,
            seo_description=_seo_description(item),
        )
        product.collections.set([collections[slug] for slug in item.collections])
        products[item.slug] = product
        result.products.created += 1
    return products


def _load_variants(result: DemoLoadResult, items: list[DemoProduct], products: dict[str, Product]) -> None:
    wanted = [(products[item.slug], row) for item, code in _codes(items) for row in demo_variant_rows(item, code)]
    existing = set(
        ProductVariant.objects.filter(sku__in=[row["sku"] for _, row in wanted]).values_list("sku", flat=True)
    )
    missing = [ProductVariant(product=product, **row) for product, row in wanted if row["sku"] not in existing]
    ProductVariant.objects.bulk_create(missing)  # the products' price ranges follow (CatalogueQuerySet)
    result.variants.total += len(wanted)
    result.variants.created += len(missing)


def _codes(items: list[DemoProduct]) -> list[tuple[DemoProduct, str]]:
    """Stable product codes (MA-ENG01...) from each product's place in PRODUCTS, whatever subset is loaded."""
    counters: dict[str, int] = {}
    codes = {}
    for item in PRODUCTS:
        counters[item.category] = counters.get(item.category, 0) + 1
        codes[item.slug] = _product_code(counters[item.category], item.category)
    return [(item, codes[item.slug]) for item in items]


def _load_images(
    result: DemoLoadResult,
    items: list[DemoProduct],
    products: dict[str, Product],
    image_size: int,
    progress: Callable[[str], None],
    workers: int,
) -> None:
    have = set(ProductImage.objects.filter(product__in=products.values()).values_list("product__slug", "position"))
    jobs = []  # (item, metal, position, first SKU in that metal) for every photo still missing
    for item, code in _codes(items):
        rows = demo_variant_rows(item, code)
        for position, metal in enumerate(item.metals[:MAX_IMAGES_PER_PRODUCT]):
            result.images.total += 1
            if (item.slug, position) not in have:  # never redraw or rewrite an existing image
                jobs.append((item, metal, position, next(row["sku"] for row in rows if row["metal"] == metal)))
    variants = {v.sku: v for v in ProductVariant.objects.filter(sku__in=[job[3] for job in jobs])}
    # Plain str (not the models' TextChoices members): a worker unpickles these without the models.
    drawings = [
        {
            "kind": item.kind,
            "variant": item.style,
            "metal": str(metal),
            "stone": str(item.gemstone),
            "size": image_size,
            "backdrop": BACKDROPS[item.kind],
        }
        for item, metal, _, _ in jobs
    ]
    # Photos are drawn and encoded in worker processes while this one stores them, in order, each as
    # its own small write; closing() stops the workers at once if a write fails.
    with closing(_prepared(drawings, workers)) as prepared:
        for (item, metal, position, sku), processed in zip(jobs, prepared, strict=True):
            # The photo belongs to the first variant in its metal, so the shop can switch photo with metal.
            demo_image_create(
                product=products[item.slug],
                variant=variants.get(sku),
                processed=processed,
                alt_text=demo_alt_text(item, metal),
                position=position,
            )
            result.images.created += 1
            progress(f"{item.slug} #{position + 1}")


def demo_image_workers() -> int:
    """One worker per CPU this process may use, up to MAX_IMAGE_WORKERS."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, MAX_IMAGE_WORKERS))


def _prepared(drawings: list[dict[str, object]], workers: int) -> Iterator[ProcessedImage]:
    """Each drawing prepared, in order: by ``workers`` processes, or here when one worker is asked for, when
    the pool cannot start (no fork or semaphores, e.g. a locked-down container) or when it breaks."""
    pool = _pool_start(workers) if workers > 1 and len(drawings) > 1 else None
    if pool is None:
        yield from map(demo_images.demo_image_prepare, drawings)
        return
    with pool:
        try:
            futures = [pool.submit(demo_images.demo_image_prepare, drawing) for drawing in drawings]
        except (OSError, RuntimeError) as exc:  # BrokenProcessPool is a RuntimeError
            log.warning("Image worker processes failed to start (%s); drawing demo photos in this process.", exc)
            futures = []
        try:
            for index, drawing in enumerate(drawings):
                processed = _result(futures[index]) if index < len(futures) else None
                if processed is None:  # no pool, or it broke: every later future would fail the same way
                    futures = futures[:index]
                    processed = demo_images.demo_image_prepare(drawing)
                yield processed
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # stopped early (error, Ctrl-C): drop the rest


def _pool_start(workers: int) -> ProcessPoolExecutor | None:
    try:
        return ProcessPoolExecutor(max_workers=workers, initializer=demo_images.worker_init)
    except (OSError, ImportError, NotImplementedError, ValueError) as exc:
        log.warning("No image worker processes (%s); drawing demo photos in this process.", exc)
        return None


def _result(future: Future[ProcessedImage]) -> ProcessedImage | None:
    """The worker's result, or None if the pool broke (a worker was killed, or ran out of memory)."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        log.warning("An image worker process died (%s); drawing the remaining demo photos here.", exc)
        return None


def demo_catalog_load(
    *,
    image_size: int = 1200,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> DemoLoadResult:
    """Add whatever part of the demo catalogue is missing; ``limit`` loads only the first N products.

    Photos are prepared by ``workers`` processes (default: one per CPU, see demo_image_workers); 1 draws
    them all in this process."""
    items = PRODUCTS[:limit] if limit else PRODUCTS
    result = DemoLoadResult()
    with transaction.atomic():
        products = _load_products(result, items)
        _load_variants(result, items, products)
    # Images after the rows are committed: each is its own small write, so an interrupted run keeps
    # what it drew and the next run carries on from there.
    workers = demo_image_workers() if workers is None else workers
    _load_images(result, items, products, image_size, progress or (lambda slug: None), workers)
    return result
