from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True, role=User.Role.HQ_ADMIN)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in to the back-office with e-mail and password."""

    class Role(models.TextChoices):
        HQ_ADMIN = "hq_admin", "HQ admin"
        MANAGER = "manager", "Store manager"
        ASSOCIATE = "associate", "Associate"

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ASSOCIATE)
    is_active = models.BooleanField(default=True)
    # Access to the Django admin; superusers only (see apps.accounts.admin_site).
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_hq(self) -> bool:
        return self.is_active and (self.role == self.Role.HQ_ADMIN or self.is_superuser)

    is_api_client = False


class Membership(models.Model):
    """A user's place at a location: manager (may change it) or associate (works there)."""

    class Role(models.TextChoices):
        MANAGER = "manager", "Manager"
        ASSOCIATE = "associate", "Associate"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    location = models.ForeignKey(
        "stores.Location", on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "location"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} at {self.location.code}"


class ApiClientQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True)


class ApiClient(models.Model):
    """Who calls the API: a POS device bound to one location, or an integration (the
    online shop). Its key is shown once at creation and only a hash is kept."""

    class Kind(models.TextChoices):
        POS_DEVICE = "pos_device", "POS device"
        INTEGRATION = "integration", "Integration"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=120)
    location = models.ForeignKey(
        "stores.Location",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_clients",
    )
    channel = models.CharField(max_length=20, default="pos")
    key_prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiClientQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="integration") | models.Q(location__isnull=False),
                name="api_client_device_has_location",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"

    # DRF treats the authenticated principal like a user.
    is_authenticated = True
    is_anonymous = False
    is_api_client = True
    is_hq = False

    @property
    def is_pos_device(self) -> bool:
        return self.kind == self.Kind.POS_DEVICE

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
