"""The web client at / and path traversal."""
from __future__ import annotations

import pytest

from wsraw import http_request


def test_index_html(server):
    r = http_request(server.port("a"), "GET", "/")
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("text/html"), r.headers
    assert b"<html" in r.body.lower() or b"<!doctype" in r.body.lower()


def test_head_index(server):
    r = http_request(server.port("a"), "HEAD", "/")
    assert r.status in (200, 405), r


@pytest.mark.parametrize("path", [
    "/../../etc/passwd",
    "/../../../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/../../../../etc/passwd",
    "/./../.././../etc/passwd",
    "/..%5c..%5c..%5cetc%5cpasswd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "//etc/passwd",
    "/etc/passwd",
    "/....//....//....//etc/passwd",
    "/%00/../../etc/passwd",
    "/index.html%00.png",
    "/..",
])
def test_no_path_traversal(server, path):
    r = http_request(server.port("a"), "GET", path)
    assert r.status in (400, 403, 404), (path, r)
    assert b"root:" not in r.body, path


def test_unknown_static_file_404(server):
    assert http_request(server.port("a"), "GET", "/nope.js").status == 404
