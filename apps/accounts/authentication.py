from rest_framework import authentication, exceptions

from .services import api_client_authenticate_cached


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` for POS devices and integrations."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed("The token has invalid characters.") from error
        client = api_client_authenticate_cached(key)
        if client is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.")
        return client, client

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return self.keyword
