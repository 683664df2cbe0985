"""Where a webhook may be sent: no internal address, and the connection goes to the address checked.

A registered URL is the caller's choice, so without a check a webhook is a way to make the worker
POST to loopback, the private network, cloud metadata (169.254.169.254) or the gradebook's and
broker's own servers (server-side request forgery). ``EgressPolicy.pin`` resolves the host once,
refuses the URL if any address it resolves to is not a public unicast one, and returns the URL
rewritten to the first checked address with the original ``Host`` header and TLS server name, so a
DNS answer that changes between the check and the connection (DNS rebinding) reaches nothing new.
IPv4 written as one number, in octal or hex (``2130706433``, ``0177.0.0.1``) and IPv4 inside IPv6
(``::ffff:127.0.0.1``, NAT64, 6to4) are judged by the IPv4 address they stand for.

Hosts the operator names in ``webhook_allowed_hosts`` (exactly as written in the URL) skip the
address check, for a receiver on the same machine or network; they are still resolved once and pinned.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.engine import make_url

from grader.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[IPAddress]]

NAT64 = ipaddress.ip_network("64:ff9b::/96")
LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)  # what inet_aton reads: 2130706433, 0x7f.1
DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressRefused(ValueError):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


class HostUnresolvable(OSError):
    """The host has no address now (DNS down or the name gone); worth trying again later."""


@dataclass(frozen=True)
class PinnedTarget:
    """A request to send: ``url`` names the checked IP; ``host_header`` and ``sni_hostname`` the host."""

    url: str
    address: IPAddress
    host_header: str
    sni_hostname: str | None  # https to a name: the certificate is checked against this name


def normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for, in any form a resolver accepts."""
    host = normalise_host(host)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(ip: IPAddress) -> list[IPAddress]:
    """The IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[IPAddress] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _kind(ip: IPAddress) -> str | None:
    """Why this one address is off limits, or None for a public unicast address."""
    if ip.is_unspecified:
        return "the unspecified address (this machine)"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private or not ip.is_global:
        return "a private or reserved address"
    return None


def refusal(ip: IPAddress, service_addresses: Iterable[IPAddress] = ()) -> str | None:
    """Why ``ip`` may not receive webhooks (it or an IPv4 address inside it), or None."""
    services = set(service_addresses)
    for candidate in (*_embedded_ipv4(ip), ip):  # the IPv4 inside first: its reason is the telling one
        if candidate in services:
            return "the address of the gradebook's database or the broker"
        kind = _kind(candidate)
        if kind:
            return kind
    return None


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(normalise_host(host), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostUnresolvable(f"the host {host} could not be resolved ({exc.__class__.__name__}).") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise HostUnresolvable(f"the host {host} has no address.")
    return addresses


def service_hosts(database_url: str, broker_url: str) -> tuple[str, ...]:
    """The hosts of the gradebook's database and of the broker, when they are on a network."""
    hosts = []
    try:
        if host := make_url(database_url).host:
            hosts.append(host)
    except Exception:  # an unparsable URL fails elsewhere, loudly
        pass
    if host := urlsplit(broker_url).hostname:
        hosts.append(host)
    return tuple(dict.fromkeys(normalise_host(h) for h in hosts))


@dataclass(frozen=True)
class EgressPolicy:
    """Which webhook URLs may be posted to. The default refuses every internal address."""

    allowed_hosts: frozenset[str] = frozenset()
    service_hosts: tuple[str, ...] = ()
    resolve: Resolver = resolve_host

    @classmethod
    def from_settings(cls, settings: Settings, resolve: Resolver = resolve_host) -> EgressPolicy:
        return cls(
            allowed_hosts=frozenset(normalise_host(h) for h in settings.webhook_allowed_hosts),
            service_hosts=service_hosts(settings.database_url, settings.broker_url),
            resolve=resolve,
        )

    def allows_any_address(self, host: str) -> bool:
        return normalise_host(host) in self.allowed_hosts

    def check_literal(self, host: str) -> None:
        """At registration: refuse a host that is itself a forbidden address (no DNS is asked)."""
        if self.allows_any_address(host):
            return
        name = normalise_host(host)
        if name == "localhost" or name.endswith(".localhost"):
            raise AddressRefused(f"refused: {host} is this machine (loopback); webhooks go to other servers.")
        ip = literal_address(host)
        why = refusal(ip) if ip is not None else None
        if why:
            raise AddressRefused(f"refused: {host} is {why}; webhooks go to public addresses only.")

    def _service_addresses(self) -> set[IPAddress]:
        found: set[IPAddress] = set()
        for host in self.service_hosts:
            try:
                found.update(self.resolve(host, 0))
            except (HostUnresolvable, ValueError):
                continue  # a service we cannot resolve cannot be reached through us either
        return found

    def pin(self, url: str) -> PinnedTarget:
        """Resolve the URL's host once and check every address; the request to send to the first."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        self.check_literal(host)
        addresses = self.resolve(host, port)
        if not self.allows_any_address(host):
            services = self._service_addresses()
            for ip in addresses:
                why = refusal(ip, services)
                if why:
                    # The address itself is not shown: it would map the internal network for the caller.
                    raise AddressRefused(f"refused: {host} resolves to {why}; webhooks go to public addresses only.")
        address = addresses[0]
        ip_text = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{ip_text}:{parts.port}" if parts.port is not None else ip_text
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        try:  # the name as it travels (IDNA): httpx's parse, when it can parse the original
            original = httpx.URL(url)
            host_header, ascii_host = original.netloc.decode("ascii"), original.raw_host.decode("ascii")
        except httpx.InvalidURL:  # e.g. 0177.0.0.1, which the resolver read but httpx will not
            host_header, ascii_host = parts.netloc, host
        literal = literal_address(host) is not None
        sni = ascii_host if parts.scheme == "https" and not literal else None
        return PinnedTarget(url=pinned, address=address, host_header=host_header, sni_hostname=sni)
