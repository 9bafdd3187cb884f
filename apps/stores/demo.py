"""Demo locations: two cities, a warehouse and the online shop."""

from .models import Location

LOCATIONS = [
    ("S01", "Paris Marais", Location.Kind.STORE, "Paris", "12 Rue des Francs-Bourgeois"),
    ("S02", "Paris Saint-Germain", Location.Kind.STORE, "Paris", "48 Rue de Rennes"),
    ("S03", "Paris La Défense", Location.Kind.STORE, "Puteaux", "Centre Westfield Les 4 Temps"),
    ("S04", "Lyon Presqu'île", Location.Kind.STORE, "Lyon", "21 Rue de la République"),
    ("S05", "Lyon Part-Dieu", Location.Kind.STORE, "Lyon", "Centre Commercial Part-Dieu"),
    ("W01", "Central warehouse", Location.Kind.WAREHOUSE, "Mâcon", "ZI Sud, 5 Rue des Entrepôts"),
    ("WEB", "Online shop", Location.Kind.ONLINE, "", ""),
]


def seed() -> dict[str, Location]:
    locations = {}
    for code, name, kind, city, address in LOCATIONS:
        location, _ = Location.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "city": city,
                "address": address,
                "timezone": "Europe/Paris",
            },
        )
        locations[code] = location
    return locations
