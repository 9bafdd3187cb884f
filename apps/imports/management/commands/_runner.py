"""The shared body of `import_catalog` and `import_stock`: the screens' services, run
synchronously, with a summary for people or (--json) for scripts."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.core.errors import DomainError
from apps.imports.errors import FileRefused
from apps.imports.formats import format_detect, kind_of
from apps.imports.models import ImportJob
from apps.imports.parsers import table_read
from apps.imports.services import import_job_confirm, import_job_create, import_job_summary
from apps.stores.models import Location


class ImportCommand(BaseCommand):
    kinds: tuple[str, ...] = ()

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--location", help="location code (Shopify inventory quantities)")
        parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
        parser.add_argument("--skip-invalid", action="store_true", help="write the good rows")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        parser.add_argument("--user", help="e-mail of the user to act as (default: the system)")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        actor = None
        if options["user"]:
            actor = User.objects.filter(email__iexact=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user {options['user']}.")
        location = None
        if options["location"]:
            location = Location.objects.filter(code=options["location"].upper()).first()
            if location is None:
                raise CommandError(f"No location {options['location']}.")
        mode = (
            ImportJob.Mode.SKIP_INVALID
            if options["skip_invalid"]
            else ImportJob.Mode.ALL_OR_NOTHING
        )
        try:
            data = path.read_bytes()
            kind = kind_of(format_detect(table_read(data, path.name).header))
            if kind not in self.kinds:
                raise FileRefused(
                    f"This file is a {ImportJob.Kind(kind).label.lower()}: use "
                    f"{'import_stock' if kind == 'stock' else 'import_catalog'}."
                )
            job = import_job_create(
                actor=actor,
                filename=path.name,
                content=data,
                kind=kind,
                mode=mode,
                location=location,
                run_now=True,
            )
            confirmable = mode == ImportJob.Mode.SKIP_INVALID or not job.count_invalid
            if job.status == ImportJob.Status.PREVIEWED and confirmable and not options["dry_run"]:
                job = import_job_confirm(actor=actor, job_id=job.pk, run_now=True)
        except DomainError as error:
            summary = {"status": "refused", "message": error.detail, "code": error.code}
            self._print(summary, options)
            raise SystemExit(2) from error
        summary = import_job_summary(job)
        summary["dry_run"] = options["dry_run"]
        self._print(summary, options)
        failed = job.status in (ImportJob.Status.REFUSED, ImportJob.Status.FAILED) or (
            mode == ImportJob.Mode.ALL_OR_NOTHING and job.count_invalid
        )
        if failed:
            raise SystemExit(1)

    def _print(self, summary: dict, options) -> None:
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
            return
        if summary.get("status") == "refused" and "counts" not in summary:
            self.stderr.write(f"Refused: {summary['message']}")
            return
        counts = summary["counts"]
        self.stdout.write(
            f"Import {summary['id']} ({summary['kind']}): {summary['status']}"
            + (" (dry run)" if summary.get("dry_run") else "")
        )
        if summary["message"]:
            self.stdout.write(summary["message"])
        self.stdout.write(
            f"create {counts['create']}, update {counts['update']}, "
            f"unchanged {counts['unchanged']}, invalid {counts['invalid']}, "
            f"stock movements {summary['stock_movements']}"
        )
        for warning in summary["warnings"]:
            self.stdout.write(f"warning: {warning}")
        for error in summary["errors"]:
            self.stdout.write(f"row {error['row']} {error['column']}: {error['message']}")
