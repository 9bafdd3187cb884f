"""Demo people. Passwords are fixed and documented in the README: demo data only."""

from apps.stores.models import Location

from .models import Membership, User

DEMO_PASSWORD = "omo-demo-2026"

HQ_USERS = [
    ("admin@omo.test", "Ada Admin", True),
    ("hq@omo.test", "Hugo Quentin", False),
]
MANAGERS = {
    "S01": ("manager.s01@omo.test", "Margaux Martin"),
    "S02": ("manager.s02@omo.test", "Samir Benali"),
    "S03": ("manager.s03@omo.test", "Claire Dubois"),
    "S04": ("manager.s04@omo.test", "Louis Garnier"),
    "S05": ("manager.s05@omo.test", "Inès Moreau"),
    "W01": ("manager.w01@omo.test", "Paul Lefèvre"),
}
ASSOCIATES = {
    "S01": [("lea.s01@omo.test", "Léa Petit"), ("nina.s01@omo.test", "Nina Roux")],
    "S02": [("tom.s02@omo.test", "Tom Girard"), ("jade.s02@omo.test", "Jade Fontaine")],
    "S03": [("yanis.s03@omo.test", "Yanis Chevalier")],
    "S04": [("emma.s04@omo.test", "Emma Lambert"), ("hugo.s04@omo.test", "Hugo Bonnet")],
    "S05": [("chloe.s05@omo.test", "Chloé Mercier")],
}


def _user(email: str, full_name: str, role: str, *, superuser: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User(email=email)
        user.set_password(DEMO_PASSWORD)
    user.full_name = full_name
    user.role = role
    user.is_superuser = superuser
    user.is_staff = superuser
    user.is_active = True
    user.save()
    return user


def seed(locations: dict[str, Location]) -> dict[str, User]:
    users = {}
    for email, name, superuser in HQ_USERS:
        users[email] = _user(email, name, User.Role.HQ_ADMIN, superuser=superuser)
    for code, (email, name) in MANAGERS.items():
        user = _user(email, name, User.Role.MANAGER)
        Membership.objects.update_or_create(
            user=user, location=locations[code], defaults={"role": Membership.Role.MANAGER}
        )
        users[email] = user
    # The Paris manager also covers La Défense: one person, two stores.
    Membership.objects.update_or_create(
        user=users["manager.s01@omo.test"],
        location=locations["S03"],
        defaults={"role": Membership.Role.MANAGER},
    )
    for code, people in ASSOCIATES.items():
        for email, name in people:
            user = _user(email, name, User.Role.ASSOCIATE)
            Membership.objects.update_or_create(
                user=user, location=locations[code], defaults={"role": Membership.Role.ASSOCIATE}
            )
            users[email] = user
    return users
