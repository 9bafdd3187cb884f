"""Import errors with stable codes (see apps.core.errors)."""

from apps.core.errors import ValidationFailed


class FileRefused(ValidationFailed):
    """The whole file cannot be imported: one message says why."""

    code = "file_refused"
    default_detail = "This file cannot be imported."
