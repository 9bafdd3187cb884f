import pytest

pytestmark = pytest.mark.django_db


def test_the_schema_and_docs_are_public_and_describe_the_token_header(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    body = schema.json()
    assert body["components"]["securitySchemes"]["ApiToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": body["components"]["securitySchemes"]["ApiToken"]["description"],
    }
    assert "/api/v1/pos/session" in body["paths"]
    assert body["paths"]["/api/v1/pos/session"]["get"]["security"] == [{"ApiToken": []}]

    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI comes from the sidecar package, never a CDN.
    html = docs.content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html
