"""API routes of this app, mounted under /api/v1/ by omo_site/urls.py."""

urlpatterns: list = []
