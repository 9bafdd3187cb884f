"""Settings for the ws_fanout benchmark's server and producer: production-like base
settings, with the channel layer chosen by OMO_BENCH_LAYER (classic | pubsub)."""

import os

from omo_site.settings.base import *  # noqa: F403
from omo_site.settings.base import REDIS_URL

if os.environ.get("OMO_BENCH_LAYER") == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
