"""The fake host's outbound network policy: `[network] allowed_hosts` entries and URLs,
read and matched as the server reads and matches them."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Optional, Union

from ..errors import ErrorKind, HostError

_LABEL = re.compile(r"^[A-Za-z0-9-]{1,63}$")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class HostPattern:
    """One `allowed_hosts` entry: `example.com`, `*.example.com` (subdomains only), an IP
    address; without a port only the scheme's default port (80 or 443), with `:port`
    that port, with `:*` any port."""

    host: str
    any_subdomain: bool
    port: Union[None, int, str]  # None: the default port; "*": any

    @staticmethod
    def parse(value: str) -> "HostPattern":
        """Parses an entry; raises ValueError saying what is wrong with it."""
        if "://" in value or "/" in value:
            raise ValueError(f"`{value}` is a URL, not a host name")
        host_part, port = value, None
        if ":" in value:
            head, _, tail = value.rpartition(":")
            if ":" not in head or head.endswith("]"):
                host_part = head
                if tail == "*":
                    port = "*"
                else:
                    if not tail.isdigit() or int(tail) > 65535:
                        raise ValueError(f"`{value}` has an invalid port `{tail}`")
                    port = int(tail)
        any_subdomain = host_part.startswith("*.")
        host = host_part[2:] if any_subdomain else host_part
        host = host.lstrip("[").rstrip("]").lower()
        valid_name = bool(host) and all(_LABEL.match(label) for label in host.split("."))
        if not (valid_name or _is_ip(host)) or "*" in host:
            raise ValueError(f"`{value}` is not a host name, `*.domain` pattern or IP address")
        return HostPattern(host, any_subdomain, port)

    def matches_host(self, host: str) -> bool:
        if self.any_subdomain:
            return host.endswith("." + self.host) and len(host) > len(self.host) + 1
        return host == self.host

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if self.port is None:
            port_ok = port == _default_port(scheme)
        elif self.port == "*":
            port_ok = True
        else:
            port_ok = port == self.port
        return port_ok and self.matches_host(host)

    def __str__(self) -> str:
        text = ("*." if self.any_subdomain else "") + self.host
        if self.port is None:
            return text
        return f"{text}:{self.port}"


def _invalid(uri: str, why: str) -> HostError:
    return HostError(ErrorKind.INVALID_INPUT, f"`{uri}` is not an absolute URL: {why}")


def _target(uri: str) -> tuple[str, str, int]:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise _invalid(uri, "it has no scheme such as `https://`")
    scheme = scheme.lower()
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    authority = authority.rpartition("@")[2]
    port_text: Optional[str]
    if authority.startswith("["):
        host, sep, after = authority[1:].partition("]")
        if not sep:
            raise _invalid(uri, "an IPv6 address lacks `]`")
        port_text = after[1:] if after.startswith(":") else None
    elif ":" in authority:
        host, _, port_text = authority.rpartition(":")
    else:
        host, port_text = authority, None
    if not host:
        raise _invalid(uri, "it has no host")
    if port_text is None:
        port = _default_port(scheme)
    elif port_text.isdigit() and int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise _invalid(uri, f"`{port_text}` is not a port")
    return scheme, host.lower(), port


def check(plugin: str, allowed: list[HostPattern], uri: str) -> None:
    """Checks `uri` against `allowed` as the server does; the refusal reads as the server's."""
    scheme, host, port = _target(uri)
    web = scheme in ("http", "https")
    if web and any(pattern.matches(scheme, host, port) for pattern in allowed):
        return
    only_port_refused = web and any(pattern.matches_host(host) for pattern in allowed)
    listed = ", ".join(str(pattern) for pattern in allowed)
    if only_port_refused:
        message = (
            f"plugin `{plugin}` may not reach `{host}` on port {port} ({scheme}): allowed hosts are [{listed}], "
            "and an entry without a port allows only port 80 (http) or 443 (https); "
            f"add `{host}:{port}` (or `{host}:*`) to `[network] allowed_hosts` in plugin.toml"
        )
    else:
        message = (
            f"plugin `{plugin}` may not reach `{host}` ({scheme}): allowed hosts are [{listed}]; "
            "add it to `[network] allowed_hosts` in plugin.toml"
        )
    raise HostError(ErrorKind.PERMISSION_DENIED, message)
