"""Outbound HTTP to the hosts in the manifest's `[network] allowed_hosts`. Needs
permission `network`. Raises `HostError` when the host refuses (a host not allowed, no
permission) or fails (unreachable, timeout); an HTTP error status is a response."""

from __future__ import annotations

import json as _json
from typing import Any, Union

from . import _host
from .types import HttpRequest, HttpResponse

HeadersArg = Union[None, dict[str, str], list[tuple[str, str]]]


def _headers(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(name).lower(), str(value)) for name, value in items]


def fetch(
    url: str,
    method: str = "GET",
    headers: HeadersArg = None,
    body: Union[None, bytes, str] = None,
    json: Any = None,
) -> HttpResponse:
    """Sends a request to absolute URL `url` and waits for the whole response. With
    `json`, the body is that value as JSON and the content type `application/json`."""
    header_list = _headers(headers)
    payload = b"" if body is None else (body.encode() if isinstance(body, str) else bytes(body))
    if json is not None:
        payload = _json.dumps(json).encode()
        if not any(name == "content-type" for name, _ in header_list):
            header_list.append(("content-type", "application/json"))
    request = HttpRequest(method.upper(), url, header_list, payload)
    return _host.current("http.fetch").http_fetch(request)


def get(url: str, headers: HeadersArg = None) -> HttpResponse:
    """Sends a `GET` request."""
    return fetch(url, "GET", headers)


def post(url: str, json: Any = None, body: Union[None, bytes, str] = None, headers: HeadersArg = None) -> HttpResponse:
    """Sends a `POST` request with a JSON (`json=`) or raw (`body=`) body."""
    return fetch(url, "POST", headers, body, json)


def send(request: HttpRequest) -> HttpResponse:
    """Sends a request built by hand."""
    return _host.current("http.fetch").http_fetch(request)
