"""`make run`: the ASGI server (HTTP + websocket) and a real Celery worker with beat,
started together and stopped together (Ctrl-C or either one exiting)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts.demo import DEMO_PASSWORD, HQ_USERS, MANAGERS


class Command(BaseCommand):
    help = "Serve the back-office, API and websocket with a Celery worker beside it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        # whitenoise serves from the source folders here (WHITENOISE_USE_FINDERS) but warns
        # at every start when STATIC_ROOT, which only collectstatic fills, is missing.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        python = sys.executable
        commands = {
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "omo_site",
                "worker",
                "--beat",
                "--loglevel=INFO",
                "--pool=threads",
                "--concurrency=4",
                f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
            ],
            "web": [
                python,
                "-m",
                "uvicorn",
                "omo_site.asgi:application",
                "--host",
                host,
                "--port",
                str(port),
                "--lifespan",
                "off",
            ],
        }
        processes = {name: subprocess.Popen(command) for name, command in commands.items()}  # noqa: S603
        self._banner(host, port)
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(p.poll() is None for p in processes.values()):
                time.sleep(0.3)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        self.stdout.write("Stopped the web server and the worker.")

    def _banner(self, host, port):
        url = f"http://{host}:{port}"
        lines = [
            "",
            f"OMO back-office is starting on {url}",
            f"  back-office  {url}/            API docs  {url}/api/docs/",
            f"  websocket    ws://{host}:{port}/ws/pos/",
            f"Demo accounts (password for all: {DEMO_PASSWORD}):",
            *(f"  {email:<26} HQ admin{' (superuser)' if su else ''}" for email, _, su in HQ_USERS),
            *(
                f"  {email:<26} manager of {code}" + (" and S03" if code == "S01" else "")
                for code, (email, _) in MANAGERS.items()
            ),
            "Press Ctrl-C to stop everything.",
            "",
        ]
        self.stdout.write("\n".join(lines))
