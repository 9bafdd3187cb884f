"""Settings for the sales_post benchmark's server: the project's settings, DEBUG off,
plus a bench-only URLconf with a trivial view (the bare-view ceiling)."""

from omo_site.settings.base import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.sales_post_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
