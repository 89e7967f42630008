"""The client's HTTP setup: what it skips to start fast must not weaken TLS."""

from __future__ import annotations

import ssl

from services.client import api


def test_an_http_api_gets_a_tls_context_that_verifies_and_trusts_nothing() -> None:
    context = api._tls_context("http://127.0.0.1:8000")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() == []


def test_an_https_api_keeps_httpxs_default_verification() -> None:
    assert api._tls_context("https://dbaas.example.com") is True
