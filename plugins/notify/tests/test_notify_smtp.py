"""The ``smtp`` type against aiosmtpd servers on loopback ports (plain, STARTTLS, TLS, AUTH)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from notify_servers import SMTP_PASSWORD, SMTP_USER, SmtpServer, free_port
from shiplane_plugin_notify.smtp import Smtp
from shiplane_sdk import NotificationMessage, PluginError
from shiplane_sdk.testing import IntegrationTypeContract

StartSmtp = Callable[..., SmtpServer]

MESSAGE = NotificationMessage(
    subject="deployment of shop-2.0.0 to prod failed",
    body="Deployment dep_9 of shop-2.0.0 to prod failed on 2 of 5 targets.\nSee the deployment for details.",
    severity="error",
    data={
        "event": {
            "id": "evt_77",
            "type": "deployment.failed",
            "tenantId": "ten_acme",
            "occurredAt": "2026-11-30T05:37:01.120Z",
            "resourceType": "deployment",
            "resourceId": "dep_9",
            "data": {"schemaVersion": 1},
        },
        "delivery": {"id": "dlv_123", "attempt": 1},
    },
)


def secret_free(error: PluginError) -> bool:
    return SMTP_PASSWORD not in str(error) + error.message + json.dumps(error.details)


# ---------------------------------------------------------------------------
# Contract
# ---------------------------------------------------------------------------


class TestSmtpContract(IntegrationTypeContract):
    valid_configs = [
        {"host": "smtp.example.com", "from": "shiplane@example.com", "to": ["ops@example.com"]},
        {
            "host": "mail.example.com",
            "port": 2525,
            "security": "tls",
            "username": "shiplane",
            "password": "app-password",
            "from": "releases@example.com",
            "to": ["a@example.com", "b.c+tag@sub.example.org"],
            "subjectPrefix": "[prod] ",
            "events": ["deployment.*", "promotion.approved"],
            "timeoutSeconds": 20,
        },
        {"host": "10.0.0.25", "security": "none", "from": "x@localhost", "to": ["y@localhost"], "subjectPrefix": ""},
    ]
    invalid_configs = [
        {"from": "shiplane@example.com", "to": ["ops@example.com"]},
        {"host": "smtp example.com", "from": "shiplane@example.com", "to": ["ops@example.com"]},
        {"host": "smtp.example.com", "from": "not an address", "to": ["ops@example.com"]},
        {"host": "smtp.example.com", "from": "shiplane@example.com", "to": []},
        {"host": "smtp.example.com", "from": "shiplane@example.com", "to": ["ops@example.com\r\nBcc: x@evil.example"]},
        {"host": "smtp.example.com", "from": "shiplane@example.com", "to": [f"u{n}@example.com" for n in range(21)]},
        {"host": "smtp.example.com", "from": "s@example.com", "to": ["o@example.com"], "security": "ssl"},
        {"host": "smtp.example.com", "from": "s@example.com", "to": ["o@example.com"], "port": 0},
        {"host": "smtp.example.com", "from": "s@example.com", "to": ["o@example.com"], "username": "u"},
        {"host": "smtp.example.com", "from": "s@example.com", "to": ["o@example.com"], "password": "p"},
        {
            "host": "smtp.example.com",
            "security": "none",
            "username": "u",
            "password": "p",
            "from": "s@example.com",
            "to": ["o@example.com"],
        },
        {"host": "smtp.example.com", "from": "s@example.com", "to": ["o@example.com"], "subjectPrefix": "a\nBcc: x"},
        {"host": "smtp.example.com", "from": "s@example.com", "to": ["o@example.com"], "events": ["deploy*"]},
        {"host": "smtp.example.com", "from": "s@example.com", "to": ["o@example.com"], "cc": ["c@example.com"]},
    ]

    @pytest.fixture(autouse=True)
    def _server(self, smtp_server: StartSmtp) -> None:
        self.server = smtp_server("none")

    def make_capability(self) -> Smtp:
        return Smtp()

    def operation_config(self) -> dict[str, Any]:
        return self.server.config()


def test_secret_and_destination_fields() -> None:
    smtp = Smtp()
    assert smtp.secret_fields() == ["password"]
    assert smtp.destination_fields() == ["host", "port"]
    assert "events" in smtp.config_schema["properties"]


# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------


def test_a_message_arrives_with_subject_recipients_and_headers(smtp_server: StartSmtp) -> None:
    server = smtp_server("none")
    Smtp().notify(server.config(subjectPrefix="[Shiplane prod] "), MESSAGE)

    [received] = server.received
    assert received.mail_from == "shiplane@example.com"
    assert received.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    email = received.message
    assert email["Subject"] == "[Shiplane prod] deployment of shop-2.0.0 to prod failed"
    assert email["From"] == "shiplane@example.com"
    assert email["To"] == "ops@example.com, oncall@example.com"
    assert email["Message-ID"] == "<shiplane.dlv_123@example.com>"
    assert email["Date"]
    assert email["X-Shiplane-Event"] == "deployment.failed"
    assert email["X-Shiplane-Event-Id"] == "evt_77"
    assert email["X-Shiplane-Delivery"] == "dlv_123"
    assert email["X-Shiplane-Severity"] == "error"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email.get_content_type() == "text/plain"
    body = email.get_content().replace("\r\n", "\n")
    assert body.startswith("Deployment dep_9 of shop-2.0.0 to prod failed on 2 of 5 targets.\nSee the deployment")
    assert "-- \nShiplane event deployment.failed (evt_77), 2026-11-30T05:37:01.120Z" in body


def test_the_default_prefix_and_a_hostile_subject(smtp_server: StartSmtp) -> None:
    server = smtp_server("none")
    message = NotificationMessage(subject="line one\r\nBcc: victim@example.com", body="ünïcode body ✓")
    Smtp().notify(server.config(to=["ops@example.com"]), message)
    [received] = server.received
    assert received.rcpt_tos == ["ops@example.com"]
    assert received.message["Subject"] == "[Shiplane] line one Bcc: victim@example.com"
    assert received.message["Bcc"] is None
    assert "ünïcode body ✓" in received.message.get_content()
    assert received.message["X-Shiplane-Event"] == "shiplane.notification"


def test_starttls_with_login(smtp_server: StartSmtp, trust_test_ca: None) -> None:
    server = smtp_server("starttls", auth=True)
    Smtp().notify(server.config(username=SMTP_USER, password=SMTP_PASSWORD), MESSAGE)
    assert len(server.received) == 1


# aiosmtpd can't tell implicit TLS from none, so this server allows AUTH "without TLS" and warns.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_login(smtp_server: StartSmtp, trust_test_ca: None) -> None:
    server = smtp_server("tls", auth=True)
    Smtp().notify(server.config(username=SMTP_USER, password=SMTP_PASSWORD), MESSAGE)
    assert len(server.received) == 1


def test_some_recipients_refused_still_delivers_to_the_others(smtp_server: StartSmtp) -> None:
    server = smtp_server("none")
    Smtp().notify(server.config(to=["ops@example.com", "nobody@example.com"]), MESSAGE)
    [received] = server.received
    assert received.rcpt_tos == ["ops@example.com"]


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------


def test_a_wrong_password_is_a_clear_error_without_the_password(smtp_server: StartSmtp, trust_test_ca: None) -> None:
    server = smtp_server("starttls", auth=True)
    wrong = "wrong-" + SMTP_PASSWORD
    with pytest.raises(PluginError) as caught:
        Smtp().notify(server.config(username=SMTP_USER, password=wrong), MESSAGE)
    assert "refused the login of 'shiplane'" in caught.value.message and "535" in caught.value.message
    assert caught.value.details["stage"] == "login"
    assert wrong not in str(caught.value) + json.dumps(caught.value.details)
    assert server.received == []


def test_a_refused_connection_is_a_clear_error() -> None:
    port = free_port()
    config = {"host": "127.0.0.1", "port": port, "security": "none", "from": "s@example.com", "to": ["o@example.com"]}
    started = time.monotonic()
    with pytest.raises(PluginError, match=f"could not connect to the SMTP server 127.0.0.1:{port}: connection refused"):
        Smtp().notify(config, MESSAGE)
    assert time.monotonic() - started < 2


def test_every_recipient_refused(smtp_server: StartSmtp) -> None:
    server = smtp_server("none")
    with pytest.raises(PluginError, match="refused every recipient: nobody@example.com \\(550 5.1.1 no such user"):
        Smtp().notify(server.config(to=["nobody@example.com"]), MESSAGE)


def test_starttls_not_offered(smtp_server: StartSmtp) -> None:
    server = smtp_server("none")
    with pytest.raises(PluginError, match="does not offer STARTTLS"):
        Smtp().notify(server.config(security="starttls"), MESSAGE)


def test_an_untrusted_certificate_is_refused(smtp_server: StartSmtp) -> None:
    # No trust_test_ca: the system trust store does not know the test CA.
    server = smtp_server("starttls", auth=True)
    with pytest.raises(PluginError, match="TLS certificate of 127.0.0.1:.* was not accepted"):
        Smtp().notify(server.config(username=SMTP_USER, password=SMTP_PASSWORD), MESSAGE)
    assert server.received == []


def test_tls_against_a_plain_server_is_a_clear_error(smtp_server: StartSmtp) -> None:
    server = smtp_server("none")
    with pytest.raises(PluginError, match="TLS with 127.0.0.1:.* failed during connect"):
        Smtp().notify(server.config(security="tls", timeoutSeconds=2), MESSAGE)


# ---------------------------------------------------------------------------
# test() and health()
# ---------------------------------------------------------------------------


def test_test_ok(smtp_server: StartSmtp, trust_test_ca: None) -> None:
    server = smtp_server("starttls", auth=True)
    result = Smtp().test(server.config(username=SMTP_USER, password=SMTP_PASSWORD))
    assert result.ok, result.message
    assert result.details["authenticated"] is True and "auth" in result.details["extensions"]
    assert server.received == []  # nothing sent


def test_test_reports_a_wrong_password(smtp_server: StartSmtp, trust_test_ca: None) -> None:
    server = smtp_server("starttls", auth=True)
    result = Smtp().test(server.config(username=SMTP_USER, password="nope-" + SMTP_PASSWORD))
    assert not result.ok and "refused the login" in result.message
    assert SMTP_PASSWORD not in result.message + json.dumps(result.details)


def test_test_reports_refused_recipients(smtp_server: StartSmtp) -> None:
    server = smtp_server("none")
    result = Smtp().test(server.config(to=["ops@example.com", "nobody@example.com"]))
    assert not result.ok and "refused recipients: nobody@example.com (550" in result.message
    assert result.details["refused"] == ["nobody@example.com"]


def test_test_reports_an_unreachable_server() -> None:
    port = free_port()
    result = Smtp().test(
        {"host": "127.0.0.1", "port": port, "security": "none", "from": "s@example.com", "to": ["o@example.com"]}
    )
    assert not result.ok and "connection refused" in result.message


def test_health(smtp_server: StartSmtp, trust_test_ca: None) -> None:
    server = smtp_server("starttls", auth=True)
    # No login: a wrong password does not make the server look unhealthy, and nothing is sent.
    report = Smtp().health(server.config(username=SMTP_USER, password="wrong-password"))
    assert report.status == "ok", report.message
    port = free_port()
    report = Smtp().health({"host": "127.0.0.1", "port": port, "from": "s@example.com", "to": ["o@example.com"]})
    assert report.status == "failing" and "connection refused" in report.message
