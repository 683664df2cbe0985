"""Webhooks never reach internal addresses (server-side request forgery): a real receiver on
127.0.0.1 is refused unless allow-listed, in every spelling of loopback a resolver accepts; the
host is resolved once and the connection goes to the address checked (DNS rebinding); redirects
are never followed; what a failed endpoint replied never comes back to the caller.

Name resolution is real where the machine can answer (its own host name, literal addresses). A
name that resolves to a chosen address (a private one, or one that changes between lookups)
needs a DNS server we cannot run here: those tests hand the policy a resolver, the one boundary.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from gradebook_factory import TESTS, graded_report
from sqlalchemy import select
from webhook_kit import BOX, LOOPBACK, SECRET, Receiver, add_endpoint, leased_run

from grader.runs.service import complete_run
from grader.settings import Settings
from grader.webhooks.delivery import deliver_due
from grader.webhooks.egress import AddressRefused, EgressPolicy
from grader.webhooks.models import DeliveryStatus, WebhookDelivery
from grader.webhooks.signing import verify

NOW = dt.datetime(2026, 2, 13, 18, 5, tzinfo=dt.UTC)
STRICT = EgressPolicy()  # the default: no internal address allowed


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def graded_event(sessions, url: str) -> int:
    with sessions() as session:
        add_endpoint(session, url)
        complete_run(session=session, lease=leased_run(session), report=graded_report(), tests=TESTS, now=NOW)
        return session.scalars(select(WebhookDelivery.id)).one()


def row(sessions, delivery_id: int) -> WebhookDelivery:
    with sessions() as session:
        return session.get(WebhookDelivery, delivery_id)


def pending_again(sessions, delivery_id: int) -> None:
    """A failed delivery due again now, as if the endpoint had been fixed and the event re-sent."""
    with sessions() as session:
        d = session.get(WebhookDelivery, delivery_id)
        d.status, d.next_attempt_at = DeliveryStatus.pending, NOW
        session.commit()


class Resolver:
    """Stands in for DNS: answers from a table, and counts the questions."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers, self.asked = answers, []

    def __call__(self, host: str, port: int) -> list:
        self.asked.append(host)
        return [ipaddress.ip_address(a) for a in self.answers[host]]


def test_a_loopback_receiver_is_refused_without_the_allow_list_and_reached_with_it(sessions, receiver, http):
    refused = graded_event(sessions, receiver.url + "/hook")
    report = deliver_due(sessions, http, NOW, box=BOX, egress=STRICT)
    assert report.failed == [refused] and receiver.requests == []  # final: nothing was sent
    failed = row(sessions, refused)
    assert failed.status == DeliveryStatus.failed and failed.last_status_code is None
    assert "loopback" in failed.last_error and "refused" in failed.last_error

    pending_again(sessions, refused)
    assert deliver_due(sessions, http, NOW, box=BOX, egress=LOOPBACK).delivered == [refused]
    [sent] = receiver.requests
    assert verify(SECRET, sent.headers["Grader-Signature"], sent.body)


@pytest.mark.parametrize(
    "host",
    [
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6: reaches the IPv4 receiver
        "2130706433",  # 127.0.0.1 as one decimal number
        "0177.0.0.1",  # octal
        "0x7f.0.0.1",  # hex
        "127.1",  # short form
        "0.0.0.0",  # "this host": Linux connects it to loopback
    ],
)
def test_every_spelling_of_loopback_is_refused_though_each_reaches_the_receiver(sessions, receiver, http, host):
    url = f"http://{host}:{receiver.server.server_address[1]}/hook"
    delivery_id = graded_event(sessions, url)
    assert deliver_due(sessions, http, NOW, box=BOX, egress=STRICT).failed == [delivery_id]
    assert receiver.requests == [] and "refused" in row(sessions, delivery_id).last_error

    # The same URL with its host allow-listed does reach the receiver: the refusal above mattered.
    pending_again(sessions, delivery_id)
    allowing = EgressPolicy(allowed_hosts=frozenset({host.strip("[]")}))
    assert deliver_due(sessions, http, NOW, box=BOX, egress=allowing).delivered == [delivery_id]
    assert len(receiver.requests) == 1


def test_ipv6_loopback_is_refused(sessions, http):
    delivery_id = graded_event(sessions, "http://[::1]:9/hook")
    assert deliver_due(sessions, http, NOW, box=BOX, egress=STRICT).failed == [delivery_id]
    assert "loopback" in row(sessions, delivery_id).last_error


def test_this_machines_own_name_resolved_for_real_is_refused(sessions, receiver, http):
    name = socket.gethostname()
    resolved = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    assert resolved and not any(a.is_global for a in resolved)  # what makes the name a test of DNS refusal
    delivery_id = graded_event(sessions, f"http://{name}:{receiver.server.server_address[1]}/hook")
    assert deliver_due(sessions, http, NOW, box=BOX, egress=LOOPBACK).failed == [delivery_id]  # the name isn't listed
    assert receiver.requests == [] and "resolves to" in row(sessions, delivery_id).last_error


@pytest.mark.parametrize(
    "answer, why",
    [
        (["10.1.2.3"], "private"),
        (["172.20.0.4"], "private"),
        (["169.254.169.254"], "link-local"),
        (["fd00::7"], "private"),
        (["93.184.215.14", "127.0.0.1"], "loopback"),  # every address is checked, not only the first
    ],
)
def test_a_name_resolving_to_an_internal_address_is_refused_at_delivery(sessions, receiver, http, answer, why):
    dns = Resolver({"hooks.example.test": answer})
    delivery_id = graded_event(sessions, "http://hooks.example.test/hook")  # registration asks no DNS
    policy = EgressPolicy(resolve=dns)
    assert deliver_due(sessions, http, NOW, box=BOX, egress=policy).failed == [delivery_id]
    error = row(sessions, delivery_id).last_error
    assert why in error and answer[-1] not in error  # the internal address itself is not told
    assert dns.asked == ["hooks.example.test"]


def test_the_connection_goes_to_the_address_checked_with_the_original_host(sessions, receiver, http):
    # Resolved once, to the receiver; a second lookup would say "no such host" (this name is fake).
    port = receiver.server.server_address[1]
    dns = Resolver({"hooks.example.test": ["127.0.0.1"]})
    policy = EgressPolicy(allowed_hosts=frozenset({"hooks.example.test"}), resolve=dns)
    delivery_id = graded_event(sessions, f"http://hooks.example.test:{port}/hook")
    assert deliver_due(sessions, http, NOW, box=BOX, egress=policy).delivered == [delivery_id]
    [sent] = receiver.requests
    assert sent.headers["Host"] == f"hooks.example.test:{port}" and sent.path == "/hook"
    assert dns.asked == ["hooks.example.test"]


def test_dns_rebinding_gets_nowhere(sessions, receiver, http):
    # First answer public (checked, allowed), every later one loopback: the request must go to the
    # public address checked (unreachable here), never to the receiver on loopback.
    class Rebinding(Resolver):
        def __call__(self, host, port):
            self.asked.append(host)
            return [ipaddress.ip_address("93.184.215.14" if len(self.asked) == 1 else "127.0.0.1")]

    dns = Rebinding({})
    port = receiver.server.server_address[1]
    delivery_id = graded_event(sessions, f"http://rebind.example.test:{port}/hook")
    report = deliver_due(sessions, http, NOW, box=BOX, egress=EgressPolicy(resolve=dns), timeout_s=1)
    assert report.retrying == [delivery_id]  # a connection failure, not a delivery
    assert receiver.requests == [] and dns.asked == ["rebind.example.test"]


def test_a_redirect_to_a_forbidden_address_is_not_followed(sessions, receiver):
    inner = Receiver()  # an internal service, reachable by the name localhost
    inner.thread.start()
    try:
        receiver.statuses.append(302)
        receiver.location = f"http://localhost:{inner.server.server_address[1]}/admin"
        delivery_id = graded_event(sessions, receiver.url + "/hook")
        with httpx.Client(follow_redirects=True) as following:  # even a client set to follow
            assert deliver_due(sessions, following, NOW, box=BOX, egress=LOOPBACK).retrying == [delivery_id]
        assert receiver.paths() == ["/hook"] and inner.requests == []
        assert row(sessions, delivery_id).last_error == "HTTP 302 Found"
    finally:
        inner.server.shutdown()
        inner.server.server_close()


def test_the_endpoints_reply_never_comes_back(sessions, receiver, http):
    receiver.default_status = 500
    receiver.reply = b" root:x:0:0:root:/root:/bin/bash internal-admin-page"
    delivery_id = graded_event(sessions, receiver.url)
    deliver_due(sessions, http, NOW, box=BOX, egress=LOOPBACK)
    failed = row(sessions, delivery_id)
    assert (failed.last_status_code, failed.last_error) == (500, "HTTP 500 Internal Server Error")


def test_the_databases_and_brokers_own_addresses_are_refused():
    dns = Resolver(
        {
            "db.example.test": ["93.184.215.20"],
            "redis.example.test": ["93.184.215.21"],
            "hooks.example.test": ["93.184.215.20"],
            "cache.example.test": ["93.184.215.21"],
            "labts.example.test": ["93.184.215.99"],
        }
    )
    settings = Settings(
        database_url="postgresql+psycopg://grader@db.example.test:5432/grader",
        broker_url="redis://:pw@redis.example.test:6379/0",
    )
    policy = EgressPolicy.from_settings(settings, resolve=dns)
    for name in ("hooks.example.test", "cache.example.test"):
        with pytest.raises(AddressRefused, match="database or the broker"):
            policy.pin(f"https://{name}/hook")
    target = policy.pin("https://labts.example.test/hook?x=1")
    assert (target.url, target.host_header, target.sni_hostname) == (
        "https://93.184.215.99/hook?x=1",
        "labts.example.test",
        "labts.example.test",
    )


# -- HTTPS: pinned to the IP, the certificate is still checked against the host name ---------------


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS receiver on 127.0.0.1 with a certificate for hooks.example.test; records Host headers."""
    cert, key = _certificate(tmp_path, "hooks.example.test")
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert, hosts
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name, delivered", [("hooks.example.test", True), ("other.example.test", False)])
def test_https_to_a_pinned_address_checks_the_certificate_against_the_name(sessions, tls_receiver, name, delivered):
    port, cert, hosts = tls_receiver
    dns = Resolver({name: ["127.0.0.1"]})
    policy = EgressPolicy(allowed_hosts=frozenset({name}), resolve=dns)
    delivery_id = graded_event(sessions, f"https://{name}:{port}/hook")
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
        report = deliver_due(sessions, client, NOW, box=BOX, egress=policy, timeout_s=5)
    if delivered:
        assert report.delivered == [delivery_id] and hosts == [f"{name}:{port}"]
    else:  # the certificate names another host: refused by TLS, nothing sent
        assert report.retrying == [delivery_id] and hosts == []
        assert row(sessions, delivery_id).last_error.startswith("ConnectError")
