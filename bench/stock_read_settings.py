"""Settings for bench/stock_read.py only: the product's settings (DEBUG off) with a
URLconf that adds one bare view, so the framework's ceiling is measured in the same run."""

from omo_site.settings.base import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.stock_read_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
