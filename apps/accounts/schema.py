"""How the OpenAPI schema (/api/schema/, /api/docs/) describes `Authorization: Token <key>`.

drf-spectacular finds this extension by subclassing; AccountsConfig.ready() imports it.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>`: the key of a POS device or an integration, created by a "
                "manager in the back-office (/accounts/devices/) and shown once."
            ),
        }
