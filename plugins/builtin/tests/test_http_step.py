"""The ``http`` step type against a real HTTP server (``http.server`` in a thread, loopback)."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from shiplane_plugin_builtin.http_step import HttpRequest, PathError, compile_path, resolve_path
from shiplane_sdk import StepCancelled, StepResult
from shiplane_sdk.testing import FakeStepContext, StepTypeContract, resolve

TOKEN = "Bearer tok-0123456789-not-a-real-one"
API_KEY = "key-abcdef-9876543210"
DOCUMENT = {
    "status": "ok",
    "items": [{"name": "api", "replicas": 3}, {"name": "worker", "replicas": 1}],
    "data": {"version": "1.4.2", "ready": True, "app.kubernetes.io/name": "shop"},
}
LARGE = 1024 * 1024 + 1


class _Server:
    """Routes: /json, /text, /not-json, /status/<n>, /flaky/<key>?fail=<n> (500 n times, then 200),
    /redirect (to /json), /redirect-away (to the same server as ``localhost``), /loop,
    /echo (the request as JSON), /slow (answers when released), /large (1 MiB + 1)."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.released = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="http-step-test-server", daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server: _Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self) -> None:
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query)
            server.hits[path] += 1
            if path == "/json":
                self._send(200, json.dumps(DOCUMENT).encode(), ETag='"v1"')
            elif path == "/text":
                self._send(200, b"hello from shiplane", "text/plain; charset=utf-8")
            elif path == "/not-json":
                self._send(200, b"<html>not json</html>", "text/html")
            elif path.startswith("/status/"):
                self._send(int(path.rsplit("/", 1)[1]), b'{"error": "as asked"}')
            elif path.startswith("/flaky/"):
                failures = int(query.get("fail", ["1"])[0])
                if server.hits[path] <= failures:
                    self._send(500, b'{"error": "not yet"}')
                else:
                    self._send(200, json.dumps({"attempt": server.hits[path]}).encode())
            elif path == "/redirect":
                self._send(302, b"", "text/plain", Location="/json")
            elif path == "/redirect-away":
                self._send(302, b"", "text/plain", Location=server.url("/echo", host="localhost"))
            elif path == "/loop":
                self._send(302, b"", "text/plain", Location="/loop")
            elif path == "/echo":
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                echoed = {"method": self.command, "headers": {k.lower(): v for k, v in self.headers.items()}}
                self._send(200, json.dumps({**echoed, "body": body}).encode())
            elif path == "/slow":
                server.released.wait(5)
                self._send(200, b"{}")
            elif path == "/large":
                self._send(200, b"x" * LARGE, "text/plain")
            else:
                self._send(404, b'{"error": "no such route"}')

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _route  # noqa: N815 - http.server's naming

    return Handler


SERVER = _Server()


@pytest.fixture(scope="module", autouse=True)
def _stop_the_server_after_the_module() -> Any:
    yield
    SERVER.stop()


def run(config: dict[str, Any], ctx: FakeStepContext | None = None) -> tuple[StepResult, FakeStepContext]:
    ctx = ctx or FakeStepContext()
    errors = HttpRequest().validate_config(config)
    assert errors == [], errors
    return resolve(HttpRequest().run(ctx, config)), ctx


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestHttpContract(StepTypeContract):
    valid_configs = [
        {"url": SERVER.url("/json")},
        {
            "url": SERVER.url("/echo"),
            "method": "POST",
            "headers": {"Authorization": TOKEN},
            "json": {"release": "1.4.2"},
            "timeoutSeconds": 5,
            "expectStatus": [200, "2xx"],
            "assertions": [{"path": "$.method", "equals": "POST"}, {"path": "$.body", "matches": "1\\.4"}],
            "bodyContains": "release",
            "retries": 1,
            "retryDelaySeconds": 0,
            "followRedirects": True,
            "insecureSkipVerify": False,
        },
    ]
    invalid_configs = [
        {},
        {"url": "ftp://example.com/file"},
        {"url": "https://user:password@example.com/"},
        {"url": "https://example.com/", "method": "TRACE"},
        {"url": "https://example.com/", "body": "a", "json": {"a": 1}},
        {"url": "https://example.com/", "timeoutSeconds": 0},
        {"url": "https://example.com/", "timeoutSeconds": 301},
        {"url": "https://example.com/", "retries": 11},
        {"url": "https://example.com/", "expectStatus": ["2xy"]},
        {"url": "https://example.com/", "expectStatus": [99]},
        {"url": "https://example.com/", "expectStatus": []},
        {"url": "https://example.com/", "headers": {f"X-H{n}": "v" for n in range(21)}},
        {"url": "https://example.com/", "headers": {"X-Token": "a" * 4097}},
        {"url": "https://example.com/", "headers": {"Bad Name": "v"}},
        {"url": "https://example.com/", "headers": {"Content-Length": "3"}},
        {"url": "https://example.com/", "body": "x" * (64 * 1024 + 1)},
        {"url": "https://example.com/", "assertions": [{"path": "$.a"}]},
        {"url": "https://example.com/", "assertions": [{"path": "$.a", "equals": 1, "exists": True}]},
        {"url": "https://example.com/", "assertions": [{"path": "$.a", "matches": "(a"}]},
        {"url": "https://example.com/", "assertions": [{"path": "status", "exists": True}]},
        {"url": "https://example.com/", "assertions": [{"path": "$.a", "exists": True}] * 21},
        {"url": "https://example.com/", "extra": True},
    ]

    def make_capability(self) -> HttpRequest:
        return HttpRequest()


# -- configuration ---------------------------------------------------------------------------


def test_body_and_json_are_exclusive() -> None:
    errors = HttpRequest().validate_config({"url": "https://example.com/", "body": "a", "json": {"a": 1}})
    assert [(e.field, e.code) for e in errors] == [("json", "not")]
    assert "either body or json" in errors[0].message


def test_a_bad_regex_is_rejected_with_its_field() -> None:
    errors = HttpRequest().validate_config(
        {
            "url": "https://example.com/",
            "assertions": [{"path": "$.a", "exists": True}, {"path": "$.b", "matches": "(a"}],
        }
    )
    assert [e.field for e in errors] == ["assertions.1.matches"]
    assert "regular expression" in errors[0].message
    # RE2 has no backreferences: refused when saved, not when run.
    backreference = {"url": "https://example.com/", "assertions": [{"path": "$.a", "matches": "(a)\\1"}]}
    assert [e.field for e in HttpRequest().validate_config(backreference)] == ["assertions.0.matches"]


def test_header_values_are_secret_and_the_url_is_a_destination() -> None:
    step = HttpRequest()
    assert step.secret_fields() == ["headers.*"]
    assert step.destination_fields() == ["url"]
    errors = step.validate_config({"url": "https://example.com/", "headers": {"X-Token": "line\nbreak-s3cret"}})
    assert errors and all("s3cret" not in e.message for e in errors)


def test_paths_are_a_bounded_dotted_subset() -> None:
    assert compile_path("$") == ()
    assert compile_path('$.items[0].name["a.b"]') == ("items", 0, "name", "a.b")
    assert resolve_path(DOCUMENT, "$.items[1].name") == (True, "worker")
    assert resolve_path(DOCUMENT, '$.data["app.kubernetes.io/name"]') == (True, "shop")
    assert resolve_path(DOCUMENT, "$.items[2]") == (False, None)
    assert resolve_path(DOCUMENT, "$.status.length") == (False, None)
    for bad in ("status", "$..name", "$.items[*]", "$.items[-1]", "$[?(@.a)]", "$." + ".a" * 2, "$" + ".a" * 33):
        with pytest.raises(PathError):
            compile_path(bad)


# -- success -----------------------------------------------------------------------------------


def test_success_with_status_assertions_outputs_and_artifact() -> None:
    result, ctx = run(
        {
            "url": SERVER.url("/json"),
            "expectStatus": [200],
            "bodyContains": '"version"',
            "assertions": [
                {"path": "$.status", "equals": "ok"},
                {"path": "$.items[0].name", "equals": "api"},
                {"path": "$.items[0].replicas", "equals": 3.0},
                {"path": "$.data.version", "matches": "^1\\.4\\.\\d+$"},
                {"path": "$.data.ready", "equals": True},
                {"path": "$.data", "contains": "version"},
                {"path": "$.items", "contains": {"name": "worker", "replicas": 1}},
                {"path": "$.data.version", "contains": "1.4"},
                {"path": "$.missing", "exists": False},
                {"path": '$.data["app.kubernetes.io/name"]', "exists": True},
            ],
        }
    )
    assert result.status == "succeeded", result.message
    assert result.outputs["status"] == 200
    assert result.outputs["json"] == DOCUMENT
    assert result.outputs["headers"] == {"content-type": "application/json", "etag": '"v1"'}
    assert result.outputs["bodyExcerpt"] == json.dumps(DOCUMENT)
    assert isinstance(result.outputs["durationMs"], float)
    assert result.outputs["attempts"] == 1
    artifact = ctx.artifact("response.body")
    assert json.loads(artifact.content) == DOCUMENT and artifact.content_type == "application/json"
    assert ctx.logs[0] == f"GET {SERVER.url('/json')}"
    assert ctx.logs[1].startswith("HTTP 200 OK")


def test_text_answer_has_no_json_output() -> None:
    result, ctx = run({"url": SERVER.url("/text"), "bodyContains": "shiplane"})
    assert result.status == "succeeded"
    assert "json" not in result.outputs
    assert result.outputs["bodyExcerpt"] == "hello from shiplane"
    assert ctx.artifact("response.body").content_type == "text/plain; charset=utf-8"


def test_methods_and_bodies_are_sent() -> None:
    result, _ = run({"url": SERVER.url("/echo"), "method": "PUT", "body": "plain text"})
    assert result.outputs["json"]["method"] == "PUT" and result.outputs["json"]["body"] == "plain text"
    result, _ = run({"url": SERVER.url("/echo"), "method": "PATCH", "json": {"a": [1, 2]}})
    assert json.loads(result.outputs["json"]["body"]) == {"a": [1, 2]}
    assert result.outputs["json"]["headers"]["content-type"] == "application/json"
    result, _ = run({"url": SERVER.url("/json"), "method": "HEAD"})
    assert result.status == "succeeded" and result.outputs["bodyExcerpt"] == ""


def test_an_expected_error_status_passes() -> None:
    result, _ = run({"url": SERVER.url("/status/404"), "expectStatus": [404, "2xx"]})
    assert result.status == "succeeded" and result.outputs["status"] == 404


# -- failures ----------------------------------------------------------------------------------


def test_an_unexpected_status_fails_naming_it() -> None:
    result, _ = run({"url": SERVER.url("/status/404")})
    assert result.status == "failed"
    assert result.message == f"GET {SERVER.url('/status/404')}: status 404, expected 2xx"
    assert result.outputs["status"] == 404 and result.outputs["json"] == {"error": "as asked"}


def test_each_failed_assertion_is_named_with_the_actual_value() -> None:
    result, _ = run(
        {
            "url": SERVER.url("/json"),
            "bodyContains": "goodbye",
            "assertions": [
                {"path": "$.status", "equals": "ok"},
                {"path": "$.data.version", "equals": "2.0.0"},
                {"path": "$.data.ready", "equals": 1},
                {"path": "$.items[5].name", "exists": True},
                {"path": "$.status", "exists": False},
                {"path": "$.data.version", "matches": "^2\\."},
                {"path": "$.items[0].replicas", "matches": "3"},
                {"path": "$.items", "contains": "api"},
                {"path": "$.items[0].replicas", "contains": 3},
            ],
        }
    )
    assert result.status == "failed"
    failures = result.message.split(": ", 1)[1].split("; ")
    assert failures == [
        f'the body does not contain "goodbye" (it starts with {json.dumps(json.dumps(DOCUMENT))[:199]}…)',
        '$.data.version is "1.4.2", expected "2.0.0"',
        "$.data.ready is true, expected 1",
        "$.items[5].name does not exist",
        '$.status exists (it is "ok")',
        '$.data.version is "1.4.2", which does not match "^2\\\\."',
        '$.items[0].replicas is 3, not a string to match "3"',
        '$.items is [{"name": "api", "replicas": 3}, {"name": "worker", "replicas": 1}], which does not contain "api"',
        "$.items[0].replicas is 3, which cannot contain 3",
    ]
    assert result.outputs["status"] == 200


def test_assertions_on_a_body_that_is_not_json_fail() -> None:
    result, _ = run({"url": SERVER.url("/not-json"), "assertions": [{"path": "$.status", "exists": True}]})
    assert result.status == "failed" and result.message.endswith("$.status: the body is not JSON")


def test_long_actual_values_are_cut_in_the_message() -> None:
    config = {"url": SERVER.url("/echo"), "method": "POST", "body": "x" * 5000}
    result, _ = run({**config, "assertions": [{"path": "$.body", "equals": "short"}]})
    assert result.status == "failed" and '…, expected "short"' in result.message
    assert len(result.message) < 400


def test_a_body_over_1_mib_fails_saying_so() -> None:
    result, ctx = run({"url": SERVER.url("/large")})
    assert result.status == "failed"
    assert "the response body is larger than 1 MiB" in result.message
    assert result.outputs == {"attempts": 1}
    assert ctx.artifacts == []


def test_a_connection_error_fails_after_the_retries() -> None:
    url = f"http://127.0.0.1:{closed_port()}/health"
    result, ctx = run({"url": url, "retries": 2, "retryDelaySeconds": 0})
    assert result.status == "failed"
    assert result.message.startswith(f"GET {url}: could not connect")
    assert result.message.endswith("(after 3 attempts)")
    assert result.outputs == {"attempts": 3}
    assert [line for line in ctx.logs if line.startswith("GET ")] == [
        f"GET {url} (attempt {n} of 3)" for n in (1, 2, 3)
    ]


def test_a_timeout_fails_with_a_clear_message() -> None:
    result, _ = run({"url": SERVER.url("/slow"), "timeoutSeconds": 1})
    assert result.status == "failed"
    assert result.message == f"GET {SERVER.url('/slow')}: no complete answer within 1s"


# -- retries, redirects, cancellation ------------------------------------------------------------


def test_a_5xx_is_retried_until_it_succeeds() -> None:
    result, ctx = run({"url": SERVER.url("/flaky/a?fail=2"), "retries": 3, "retryDelaySeconds": 0})
    assert result.status == "succeeded"
    assert result.outputs["json"] == {"attempt": 3} and result.outputs["attempts"] == 3
    assert sum("unexpected status 500; retrying" in line for line in ctx.logs) == 2


def test_a_5xx_fails_when_the_retries_run_out() -> None:
    result, _ = run({"url": SERVER.url("/flaky/b?fail=5"), "retries": 1, "retryDelaySeconds": 0})
    assert result.status == "failed" and "status 500, expected 2xx" in result.message
    assert result.outputs["attempts"] == 2 and SERVER.hits["/flaky/b"] == 2


def test_an_expected_5xx_is_not_retried() -> None:
    result, _ = run({"url": SERVER.url("/flaky/c?fail=5"), "retries": 3, "expectStatus": ["5xx"]})
    assert result.status == "succeeded" and SERVER.hits["/flaky/c"] == 1


def test_a_4xx_is_not_retried() -> None:
    result, _ = run({"url": SERVER.url("/status/409"), "retries": 3, "retryDelaySeconds": 0})
    assert result.status == "failed" and result.outputs["attempts"] == 1


def test_redirects_are_not_followed_by_default() -> None:
    result, _ = run({"url": SERVER.url("/redirect")})
    assert result.status == "failed"
    assert "status 302, expected 2xx (a redirect to /json; set followRedirects to follow)" in result.message
    assert result.outputs["headers"]["location"] == "/json"


def test_redirects_are_followed_when_asked() -> None:
    result, ctx = run({"url": SERVER.url("/redirect"), "followRedirects": True})
    assert result.status == "succeeded" and result.outputs["json"] == DOCUMENT
    assert any(line == f"HTTP 302, following to {SERVER.url('/json')}" for line in ctx.logs)


def test_a_redirect_loop_fails() -> None:
    result, _ = run({"url": SERVER.url("/loop"), "followRedirects": True, "retries": 2})
    assert result.status == "failed" and result.message.endswith("more than 10 redirects")
    assert result.outputs == {"attempts": 1}


def test_headers_are_not_sent_to_another_origin() -> None:
    config = {
        "url": SERVER.url("/redirect-away"),
        "followRedirects": True,
        "headers": {"X-Api-Key": API_KEY, "Accept": "application/json"},
    }
    result, _ = run(config)
    assert result.status == "succeeded"
    received = result.outputs["json"]["headers"]
    assert received["host"] == f"localhost:{SERVER.port}"
    assert "x-api-key" not in received
    assert received["accept"] == "application/json"  # not a credential: sent on


def test_cancelled_before_the_request() -> None:
    ctx = FakeStepContext(cancelled=True)
    with pytest.raises(StepCancelled):
        resolve(HttpRequest().run(ctx, {"url": SERVER.url("/json")}))
    assert ctx.logs == []


def test_cancelled_between_retries() -> None:
    class CancelledOnRetry(FakeStepContext):
        def log(self, line: str) -> None:
            super().log(line)
            if "retrying" in line:
                self.cancel()

    ctx = CancelledOnRetry()
    with pytest.raises(StepCancelled):
        resolve(HttpRequest().run(ctx, {"url": SERVER.url("/flaky/d?fail=5"), "retries": 5, "retryDelaySeconds": 60}))
    assert SERVER.hits["/flaky/d"] == 1


def test_cancelled_during_the_request() -> None:
    class CancelledOnceSent(FakeStepContext):
        checks = 0

        def is_cancelled(self) -> bool:
            self.checks += 1
            return self.checks > 1  # the check before sending passes, the next one cancels

    with pytest.raises(StepCancelled):
        resolve(HttpRequest().run(CancelledOnceSent(), {"url": SERVER.url("/slow"), "timeoutSeconds": 60}))


# -- secrets -----------------------------------------------------------------------------------


def test_header_values_never_reach_logs_outputs_or_messages() -> None:
    headers = {"Authorization": TOKEN, "X-Api-Key": API_KEY, "Accept": "application/json"}
    # /echo sends the request headers back, so the answer itself holds the secrets.
    result, ctx = run(
        {
            "url": SERVER.url("/echo"),
            "headers": headers,
            "bodyContains": "no such text",
            "assertions": [
                {"path": "$.headers.authorization", "equals": "something else"},
                {"path": "$.headers.x-api-key", "matches": "^nope$"},
                {"path": "$.headers", "contains": "x-api-key"},
            ],
        }
    )
    assert result.status == "failed"
    received = result.outputs["json"]["headers"]
    assert received["authorization"] == "***" and received["x-api-key"] == "***"
    assert received["accept"] == "application/json"
    assert '$.headers.authorization is "***", expected "something else"' in result.message
    artifact = ctx.artifact("response.body").content
    shown = [result.message, json.dumps(result.outputs), *ctx.logs, artifact.decode()]
    for secret in (TOKEN, API_KEY, "tok-0123456789", "Bearer tok"):
        assert all(secret not in text for text in shown), secret
    # ... and they were sent.
    assert SERVER.hits["/echo"] >= 1


def test_header_values_stay_out_of_connection_failures() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    result, ctx = run({"url": url, "headers": {"Authorization": TOKEN}, "retries": 1, "retryDelaySeconds": 0})
    assert result.status == "failed"
    assert all(TOKEN not in text for text in [result.message, json.dumps(result.outputs), *ctx.logs])


def test_a_trailing_newline_does_not_slip_past_a_pattern() -> None:
    """jsonschema runs patterns with Python's ``re``, whose ``$`` also matches before a
    final newline; the schema's patterns end with ``$(?!\\n)``."""
    step = HttpRequest()
    for config in (
        {"url": "https://example.com/\n"},
        {"url": "https://example.com/", "headers": {"X-A": "value\n"}},
        {"url": "https://example.com/", "headers": {"X-A\n": "value"}},
    ):
        assert step.validate_config(config), config
    assert step.validate_config({"url": "https://example.com/", "headers": {"X-A": "value"}}) == []
