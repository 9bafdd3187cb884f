"""Demo catalog: about 2,000 SKUs a mid-size fashion-and-lifestyle retailer would carry.

Apparel in sizes XS-XL and colours, cosmetics tracked by lot, electronics tracked by
serial number, EAN-13 barcodes with valid check digits (in-store prefix 200-299), and a
few store prices. Deterministic and idempotent: rows are keyed by handle, SKU and code,
inserted in bulk and never duplicated. Stock is the inventory demo's job.
"""

from __future__ import annotations

import random
from decimal import Decimal

from django.db import transaction

from apps.stores.models import Location

from .models import Barcode, Category, LocationPrice, Product, Variant
from .services import catalog_changes_record, category_get_or_create_path

SIZES = ["XS", "S", "M", "L", "XL"]
COLOURS = {
    "BLK": "Black",
    "WHT": "White",
    "NVY": "Navy",
    "OLV": "Olive",
    "SND": "Sand",
    "BRG": "Burgundy",
}
APPAREL = [
    # (category, code, product names, brands, price range)
    (
        "Women > Tops > T-shirts",
        "WTS",
        [
            "Essential Crew Tee",
            "Boxy Cotton Tee",
            "Striped Breton Tee",
            "Linen Blend Tee",
            "Ribbed Tank",
            "Organic V-neck Tee",
            "Cropped Tee",
            "Long-sleeve Tee",
        ],
        ["Maison Lumière", "Atelier Nord"],
        (14, 35),
    ),
    (
        "Men > Tops > T-shirts",
        "MTS",
        [
            "Heavyweight Tee",
            "Pocket Tee",
            "Slub Crew Tee",
            "Henley Tee",
            "Graphic Tee",
            "Merino Tee",
        ],
        ["Atelier Nord", "Rue Basse"],
        (15, 45),
    ),
    (
        "Women > Bottoms > Jeans",
        "WJN",
        [
            "Slim Straight Jeans",
            "High-rise Mom Jeans",
            "Wide-leg Jeans",
            "Skinny Jeans",
            "Bootcut Jeans",
        ],
        ["Denim Atelier", "Rue Basse"],
        (49, 119),
    ),
    (
        "Men > Bottoms > Jeans",
        "MJN",
        ["Regular Jeans", "Tapered Jeans", "Selvedge Jeans", "Relaxed Jeans"],
        ["Denim Atelier"],
        (55, 139),
    ),
    (
        "Women > Dresses",
        "WDR",
        ["Wrap Dress", "Slip Dress", "Shirt Dress", "Midi Dress", "Knit Dress", "Linen Dress"],
        ["Maison Lumière", "Flore & Co"],
        (39, 149),
    ),
    (
        "Women > Outerwear > Jackets",
        "WJK",
        ["Denim Jacket", "Trench Coat", "Quilted Jacket", "Wool Blazer"],
        ["Maison Lumière", "Atelier Nord"],
        (79, 249),
    ),
    (
        "Men > Outerwear > Jackets",
        "MJK",
        ["Field Jacket", "Harrington Jacket", "Down Jacket", "Chore Coat"],
        ["Atelier Nord", "Rue Basse"],
        (89, 279),
    ),
]
COSMETICS = [
    (
        "Beauty > Skincare > Creams",
        "CRM",
        [
            "Hydrating Day Cream",
            "Rich Night Cream",
            "Barrier Repair Cream",
            "SPF 30 Day Cream",
            "Eye Cream",
            "Hand Cream",
        ],
        ["Glow Lab", "Herboriste"],
        [("Size", "30 ml"), ("Size", "50 ml")],
        (18, 64),
    ),
    (
        "Beauty > Skincare > Serums",
        "SRM",
        [
            "Vitamin C Serum",
            "Hyaluronic Serum",
            "Retinol Serum",
            "Niacinamide Serum",
            "Peptide Serum",
        ],
        ["Glow Lab", "Herboriste"],
        [("Size", "15 ml"), ("Size", "30 ml")],
        (22, 79),
    ),
    (
        "Beauty > Makeup > Lipsticks",
        "LIP",
        ["Satin Lipstick", "Matte Lipstick", "Tinted Lip Balm", "Liquid Lipstick"],
        ["Rouge Paris"],
        [
            ("Shade", s)
            for s in [
                "Nude",
                "Rose",
                "Coral",
                "Red",
                "Berry",
                "Plum",
                "Brick",
                "Mauve",
                "Cherry",
                "Fuchsia",
                "Caramel",
                "Cocoa",
            ]
        ],
        (16, 34),
    ),
]
ELECTRONICS = [
    (
        "Electronics > Audio > Headphones",
        "HPH",
        [
            "Wireless Over-ear Headphones",
            "Noise-cancelling Headphones",
            "Sport Earbuds",
            "True Wireless Earbuds",
            "Kids Headphones",
            "Studio Headphones",
        ],
        ["Sonique", "Voltaire"],
        [("Colour", c) for c in ["Black", "White", "Silver", "Blue"]],
        (29, 349),
    ),
    (
        "Electronics > Audio > Speakers",
        "SPK",
        [
            "Portable Speaker",
            "Smart Speaker",
            "Waterproof Speaker",
            "Bookshelf Speakers",
            "Soundbar",
        ],
        ["Sonique", "Voltaire"],
        [("Colour", c) for c in ["Black", "Grey", "Sand"]],
        (39, 399),
    ),
    (
        "Electronics > Accessories > Chargers",
        "CHG",
        [
            "USB-C Wall Charger",
            "Wireless Charging Pad",
            "Car Charger",
            "Power Bank",
            "Multi-port Charger",
        ],
        ["Voltaire", "Amperio"],
        [("Power", w) for w in ["20 W", "30 W", "65 W", "100 W"]],
        (15, 89),
    ),
]
PRICED_STORES = ("S01", "S02")


def ean13(number: int) -> str:
    """A 13-digit EAN in the in-store range (prefix 2), with its check digit."""
    body = f"2{number:011d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _price(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low, high)) - Decimal("0.01")


def _specs() -> list[dict]:
    """Every product with its variants, deterministically."""
    rng = random.Random(2026)
    products = []
    for category, code, names, brands, (low, high) in APPAREL:
        for index, name in enumerate(names):
            brand = brands[index % len(brands)]
            price = _price(rng, low, high)
            colours = rng.sample(sorted(COLOURS), 5)
            handle = f"{code.lower()}-{index + 1:02d}"
            variants = []
            for colour in colours:
                for size in SIZES:
                    variants.append(
                        {
                            "sku": f"{code}-{index + 1:02d}-{colour}-{size}",
                            "options": [("Size", size), ("Colour", COLOURS[colour])],
                            "price": price,
                            "cost": (price * Decimal("0.42")).quantize(Decimal("0.01")),
                            "tracking": Variant.Tracking.NONE,
                        }
                    )
            products.append(
                {
                    "handle": handle,
                    "name": name,
                    "brand": brand,
                    "category": category,
                    "variants": variants,
                }
            )
    for groups, tracking in ((COSMETICS, "lot"), (ELECTRONICS, "serial")):
        for category, code, names, brands, options, (low, high) in groups:
            for index, name in enumerate(names):
                base = _price(rng, low, high)
                variants = []
                for number, (option_name, value) in enumerate(options):
                    step = Decimal(number * (8 if option_name in ("Size", "Power") else 0))
                    variants.append(
                        {
                            "sku": f"{code}-{index + 1:02d}-{number + 1:02d}",
                            "options": [(option_name, value)],
                            "price": base + step,
                            "cost": ((base + step) * Decimal("0.35")).quantize(Decimal("0.01")),
                            "tracking": tracking,
                        }
                    )
                products.append(
                    {
                        "handle": f"{code.lower()}-{index + 1:02d}",
                        "name": name,
                        "brand": brands[index % len(brands)],
                        "category": category,
                        "variants": variants,
                    }
                )
    return products


def _multiplied(specs: list[dict], copies: int) -> list[dict]:
    """More products of the same kinds (seasons/collections), to reach ~2,000 SKUs."""
    result = []
    for copy in range(copies):
        suffix = ["", " Originals", " Studio", " Weekend"][copy]
        for spec in specs:
            tag = "" if copy == 0 else f"-{copy}"
            result.append(
                {
                    **spec,
                    "handle": spec["handle"] + tag,
                    "name": spec["name"] + suffix,
                    "variants": [
                        {**variant, "sku": variant["sku"].replace("-", f"{tag}-", 1)}
                        for variant in spec["variants"]
                    ],
                }
            )
    return result


@transaction.atomic
def seed(locations: dict[str, Location] | None = None) -> list[Variant]:
    specs = _multiplied(_specs(), copies=2)
    categories: dict[str, Category] = {
        path: category_get_or_create_path(path=path) for path in {s["category"] for s in specs}
    }
    Product.objects.bulk_create(
        [
            Product(
                handle=spec["handle"],
                name=spec["name"],
                brand=spec["brand"],
                category=categories[spec["category"]],
                description=f"{spec['name']} by {spec['brand']}.",
            )
            for spec in specs
        ],
        ignore_conflicts=True,
    )
    products = Product.objects.in_bulk([s["handle"] for s in specs], field_name="handle")
    existing = set(Variant.objects.values_list("sku", flat=True))
    new_variants = []
    for spec in specs:
        for variant in spec["variants"]:
            if variant["sku"] in existing:
                continue
            fields = {"sku": variant["sku"], "price": variant["price"], "cost": variant["cost"]}
            for number, (name, value) in enumerate(variant["options"], start=1):
                fields[f"option{number}_name"] = name
                fields[f"option{number}_value"] = value
            new_variants.append(
                Variant(product=products[spec["handle"]], tracking=variant["tracking"], **fields)
            )
    Variant.objects.bulk_create(new_variants, ignore_conflicts=True, batch_size=500)
    skus = [v["sku"] for spec in specs for v in spec["variants"]]
    variants = list(Variant.objects.filter(sku__in=skus).order_by("sku"))
    by_sku = {variant.sku: variant for variant in variants}
    Barcode.objects.bulk_create(
        [Barcode(variant=by_sku[sku], code=ean13(index + 1)) for index, sku in enumerate(skus)],
        ignore_conflicts=True,
        batch_size=1000,
    )
    if locations is None:
        locations = Location.objects.in_bulk(list(PRICED_STORES), field_name="code")
    rng = random.Random(7)
    priced = []
    for code in PRICED_STORES:
        location = locations.get(code)
        if location is None:
            continue
        for variant in rng.sample(variants, min(60, len(variants))):
            discounted = (variant.price * Decimal("0.9")).quantize(Decimal("0.01"))
            priced.append(LocationPrice(variant=variant, location=location, price=discounted))
    LocationPrice.objects.bulk_create(priced, ignore_conflicts=True)
    new_skus = {variant.sku for variant in new_variants}
    catalog_changes_record(variant_ids=[v.pk for v in variants if v.sku in new_skus])
    return variants
