"""Every door's pages carry a Content-Security-Policy, and the pages still work under it."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM

PAGES = {
    "admin": "/admin/login/",
    "portal": "/sign-in/",
    "portal reset": "/password-reset/",
    "API docs": "/api/v1/docs/",
    "API": "/api/v1/",
}


@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
@pytest.mark.django_db
def test_each_door_sends_a_content_security_policy(client, path):
    response = client.get(path)

    policy = response["Content-Security-Policy"]
    directives = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip()
    )
    assert directives["default-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"]
    assert "unsafe-eval" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"


@pytest.mark.django_db
def test_inline_blocks_of_the_docs_page_carry_the_nonce_of_the_header(client):
    response = client.get("/api/v1/docs/")

    policy = response["Content-Security-Policy"]
    html = response.content.decode()
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<style nonce="{nonce}">' in html
    assert f'<script nonce="{nonce}">' in html
    assert "https://" not in html.split("<body>", 1)[0]  # assets from this site (the sidecar)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_render_in_a_browser_without_policy_violations(live_server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on(
                "console",
                lambda message: (
                    problems.append(f"{message.text} {message.location.get('url')}")
                    if message.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )

            page.goto(f"{live_server.url}/api/v1/docs/")
            # Swagger UI drew the schema: its title and an operation of the API.
            expect(page.locator(".swagger-ui .info .title")).to_contain_text(
                "CPO back-office API", timeout=20_000
            )
            expect(page.locator(".opblock").first).to_be_visible()
            for path in ("/admin/login/", "/sign-in/"):
                page.goto(f"{live_server.url}{path}")
                page.wait_for_load_state("networkidle")
            assert [p for p in problems if "Content Security Policy" in p] == []
            # The admin has no icon of its own: the browser's guess at /favicon.ico is no error.
            assert [p for p in problems if "/favicon.ico" not in p] == []
        finally:
            browser.close()
