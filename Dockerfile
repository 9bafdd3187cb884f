# Production image of OMO back-office: one image for the web (ASGI: HTTP + websocket),
# the Celery worker and beat; the command differs (see docs/deploy.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN groupadd --system omo \
    && useradd --system --gid omo --home-dir /app --no-create-home --shell /usr/sbin/nologin omo

# Dependencies first so a code change does not reinstall them. psycopg[binary] and the
# other wheels need no compiler on slim.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# collectstatic imports the production settings, which refuse to load without their
# secrets: these dummy values exist for this build step only and are not kept in the
# image (nothing connects to the database or Redis here).
RUN DJANGO_SETTINGS_MODULE=omo_site.settings.production \
    SECRET_KEY=build-only-not-a-secret \
    ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    OMO_VAR_DIR=/tmp/omo-build \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/omo-build \
    && mkdir -p /app/var \
    && chown -R omo:omo /app/var

ENV DJANGO_SETTINGS_MODULE=omo_site.settings.production \
    OMO_VAR_DIR=/app/var \
    PORT=8000 \
    WEB_CONCURRENCY=2

USER omo
EXPOSE 8000

# Several uvicorn workers in one container, each on its own SO_REUSEPORT socket so the
# kernel spreads connections across them (omo_site/serve.py; uvicorn's options); scale
# out with more containers behind the load balancer. --proxy-headers trusts
# X-Forwarded-* from FORWARDED_ALLOW_IPS.
CMD ["sh", "-c", "exec python -m omo_site.serve omo_site.asgi:application --host 0.0.0.0 --port ${PORT:-8000} --workers ${WEB_CONCURRENCY:-2} --ws websockets-sansio --ws-per-message-deflate false --proxy-headers --lifespan off"]
