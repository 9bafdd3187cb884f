"""factory_boy factories shared by every app's tests. Apps add theirs here."""

import factory

from apps.accounts.models import ApiClient, Membership, User
from apps.accounts.services import api_client_script_create
from apps.catalog.models import Barcode, Category, Product, Variant
from apps.stores.models import Location

TEST_PASSWORD = "correct-horse-battery"


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"L{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Store {o.code}")
    kind = Location.Kind.STORE
    timezone = "Europe/Paris"
    city = "Paris"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    role = User.Role.ASSOCIATE
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class HqAdminFactory(UserFactory):
    role = User.Role.HQ_ADMIN


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    location = factory.SubFactory(LocationFactory)
    role = Membership.Role.MANAGER


def manager_of(*locations: Location, **fields) -> User:
    user = UserFactory(role=User.Role.MANAGER, **fields)
    for location in locations:
        MembershipFactory(user=user, location=location, role=Membership.Role.MANAGER)
    return user


def associate_at(location: Location, **fields) -> User:
    user = UserFactory(role=User.Role.ASSOCIATE, **fields)
    MembershipFactory(user=user, location=location, role=Membership.Role.ASSOCIATE)
    return user


def pos_device(location: Location, name: str = "Till 1") -> tuple[ApiClient, str]:
    return api_client_script_create(kind=ApiClient.Kind.POS_DEVICE, name=name, location=location)


def integration(name: str = "Online shop") -> tuple[ApiClient, str]:
    return api_client_script_create(kind=ApiClient.Kind.INTEGRATION, name=name, location=None)


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("path",)

    name = factory.Sequence(lambda n: f"Category {n}")
    path = factory.LazyAttribute(lambda o: o.name)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("handle",)

    handle = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    brand = "Acme"


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant
        django_get_or_create = ("sku",)

    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    price = "19.90"


class BarcodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Barcode

    variant = factory.SubFactory(VariantFactory)
    code = factory.Sequence(lambda n: f"3000000{n:06d}")
