"""The API docs page renders in a browser from local assets only (no CDN)."""

from urllib.parse import urlsplit


def test_api_docs_render_every_pos_endpoint_from_local_assets(page, asgi_server):
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.goto(f"{asgi_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    page.wait_for_load_state("networkidle")
    paths = set(page.locator(".opblock-summary-path").all_inner_texts())
    paths = {path.replace("\u200b", "").strip() for path in paths}
    assert {
        "/api/v1/pos/session",
        "/api/v1/catalog/variants",
        "/api/v1/catalog/variants/{sku}",
        "/api/v1/catalog/barcodes/{barcode}",
        "/api/v1/stock",
        "/api/v1/stock/{sku}",
    } <= paths
    assert page.locator(".btn.authorize").count() == 1  # the token scheme is declared
    assert hosts <= {urlsplit(asgi_server.url).netloc, ""}, hosts
