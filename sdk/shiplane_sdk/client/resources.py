"""The endpoints of ``/api/v1``, grouped by resource, written once for both clients.

Each group is generic in what a call returns: the synchronous client binds ``One`` to
the value itself, ``Many`` to an ``Iterator`` and ``Raw`` to ``bytes``; the asynchronous
client binds them to ``Awaitable[...]``, an ``AsyncIterator`` and ``Awaitable[bytes]``.
A call returns the envelope's ``data`` (JSON values: the OpenAPI document describes
request bodies, not responses); bodies may be the generated models of
:mod:`shiplane_sdk.client.models` or plain mappings with the API's camelCase names.

``list_*`` methods return iterators that follow ``nextCursor`` (or pages) to the end;
``*_page`` methods return one :class:`~shiplane_sdk.client._transport.Page`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

if TYPE_CHECKING:  # the models are for annotations; importing them costs a command-line tool ~0.3 s
    from shiplane_sdk.client import models as m

One = TypeVar("One")
Many = TypeVar("Many")
Raw = TypeVar("Raw")
PageT = TypeVar("PageT")

Body = Mapping[str, Any]
Filter = Mapping[str, Any] | str | None


def _id(value: str) -> str:
    return quote(str(value), safe="")


def _if_match(version: int | str | None) -> dict[str, str] | None:
    if version is None:
        return None
    text = str(version)
    return {"If-Match": text if text.startswith(("W/", '"')) or text == "*" else f'"{text}"'}


def _list_params(sort: str | None, filter: Filter, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"sort": sort, "filter": filter}
    params.update(extra or {})
    return params


class _Group(Generic[One, Many, Raw, PageT]):
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def _one(self, method: str, path: str, **kwargs: Any) -> One:
        result: One = self._t.one(method, path, **kwargs)
        return result

    def _many(self, path: str, params: Mapping[str, Any] | None = None, page_size: int = 100) -> Many:
        result: Many = self._t.many(path, params, page_size=page_size)
        return result

    def _page(self, path: str, params: Mapping[str, Any] | None = None) -> PageT:
        result: PageT = self._t.page(path, params)
        return result

    def _raw(self, method: str, path: str, **kwargs: Any) -> Raw:
        result: Raw = self._t.raw(method, path, **kwargs)
        return result

    def _stream(self, path: str, since: int, max_reconnects: int) -> Many:
        result: Many = self._t.stream(path, since=since, max_reconnects=max_reconnects)
        return result


class _Crud(_Group[One, Many, Raw, PageT]):
    """Create, list, get, replace and delete under one collection path."""

    path = ""

    def list(self, *, sort: str | None = None, filter: Filter = None, page_size: int = 100) -> Many:
        """Every item, following the cursor (``filter`` a dict or JSON text, ``sort`` as the API takes it)."""
        return self._many(self.path, _list_params(sort, filter), page_size)

    def page(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        sort: str | None = None,
        filter: Filter = None,
    ) -> PageT:
        params = _list_params(sort, filter, {"page": page, "pageSize": page_size, "cursor": cursor})
        return self._page(self.path, params)

    def get(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}")

    def delete(self, id: str, *, if_match: int | str | None = None) -> One:
        return self._one("DELETE", f"{self.path}/{_id(id)}", headers=_if_match(if_match))

    def _create(self, body: Any, idempotency_key: str | None) -> One:
        return self._one("POST", self.path, body=body, idempotency_key=idempotency_key)

    def _replace(self, id: str, body: Any, if_match: int | str | None) -> One:
        return self._one("PUT", f"{self.path}/{_id(id)}", body=body, headers=_if_match(if_match))


class Environments(_Crud[One, Many, Raw, PageT]):
    path = "/api/v1/environments"

    def create(self, body: m.EnvironmentCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._create(body, idempotency_key)

    def replace(self, id: str, body: m.EnvironmentReplace | Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)

    def list_freeze_windows(self, environment_id: str) -> Many:
        return self._many(f"{self.path}/{_id(environment_id)}/freeze-windows")

    def create_freeze_window(
        self, environment_id: str, body: m.FreezeWindowCreate | Body, *, idempotency_key: str | None = None
    ) -> One:
        path = f"{self.path}/{_id(environment_id)}/freeze-windows"
        return self._one("POST", path, body=body, idempotency_key=idempotency_key)

    def delete_freeze_window(self, environment_id: str, window_id: str) -> One:
        return self._one("DELETE", f"{self.path}/{_id(environment_id)}/freeze-windows/{_id(window_id)}")


class Targets(_Crud[One, Many, Raw, PageT]):
    path = "/api/v1/targets"

    def create(self, body: m.TargetCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._create(body, idempotency_key)

    def replace(self, id: str, body: m.TargetReplace | Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)

    def health_check(self, id: str, *, wait: int | None = None, idempotency_key: str | None = None) -> One:
        path = f"{self.path}/{_id(id)}/health-check"
        return self._one("POST", path, params={"wait": wait}, idempotency_key=idempotency_key)

    def sticker(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/sticker")

    def drift(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/drift")


class Agents(_Crud[One, Many, Raw, PageT]):
    path = "/api/v1/agents"

    def register(self, body: m.AgentRegistration | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/register", body=body, idempotency_key=idempotency_key)

    def update(self, id: str, body: m.AgentUpdate | Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)

    def heartbeat(self, id: str, body: m.Heartbeat | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/heartbeat", body=body, idempotency_key=idempotency_key)

    def task_stream_path(self, id: str) -> str:
        """The agent's own task stream (an agent credential, not a user token: see docs/agents.md)."""
        return f"{self.path}/{_id(id)}/task-stream"


class Integrations(_Crud[One, Many, Raw, PageT]):
    path = "/api/v1/integrations"

    def create(self, body: m.IntegrationCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._create(body, idempotency_key)

    def replace(self, id: str, body: m.IntegrationReplace | Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)

    def test(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/test", idempotency_key=idempotency_key)

    def health(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/health")

    def discover(
        self,
        id: str,
        body: m.DiscoverRequest | Body | None = None,
        *,
        page: int | None = None,
        page_size: int | None = None,
        idempotency_key: str | None = None,
    ) -> One:
        params = {"page": page, "pageSize": page_size}
        path = f"{self.path}/{_id(id)}/discover"
        return self._one("POST", path, body=body or {}, params=params, idempotency_key=idempotency_key)

    def audit_stream(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/audit-stream")

    def list_types(self) -> Many:
        return self._many("/api/v1/integration-types")

    def get_type(self, type_id: str) -> One:
        return self._one("GET", f"/api/v1/integration-types/{_id(type_id)}")


class Components(_Crud[One, Many, Raw, PageT]):
    path = "/api/v1/components"

    def create(self, body: m.ComponentCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._create(body, idempotency_key)

    def replace(self, id: str, body: m.ComponentReplace | Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)

    def sync_versions(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/sync-versions", idempotency_key=idempotency_key)

    def list_versions(self, id: str, *, sort: str | None = None, filter: Filter = None) -> Many:
        return self._many(f"{self.path}/{_id(id)}/versions", _list_params(sort, filter))


class Releases(_Crud[One, Many, Raw, PageT]):
    path = "/api/v1/releases"

    def create(self, body: m.ReleaseCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._create(body, idempotency_key)

    def replace(self, id: str, body: m.ReleaseReplace | Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)

    def from_latest(self, body: m.ReleaseFromLatest | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/from-latest", body=body, idempotency_key=idempotency_key)

    def state(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/state")

    def deprecate(self, id: str, reason: str, *, idempotency_key: str | None = None) -> One:
        body = {"reason": reason}
        return self._one("POST", f"{self.path}/{_id(id)}/deprecate", body=body, idempotency_key=idempotency_key)

    def compare(self, id: str, other_id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/compare/{_id(other_id)}")


class WorkflowTemplates(_Crud[One, Many, Raw, PageT]):
    path = "/api/v1/workflow-templates"

    def create(self, body: m.TemplateCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._create(body, idempotency_key)

    def replace(self, id: str, body: m.TemplateReplace | Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)

    def validate(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/validate", idempotency_key=idempotency_key)

    def list_step_types(self) -> Many:
        return self._many("/api/v1/step-types")

    def get_step_type(self, type_id: str) -> One:
        return self._one("GET", f"/api/v1/step-types/{_id(type_id)}")


class WorkflowRuns(_Group[One, Many, Raw, PageT]):
    path = "/api/v1/workflow-runs"

    def create(self, body: m.RunCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", self.path, body=body, idempotency_key=idempotency_key)

    def list(self, *, sort: str | None = None, filter: Filter = None, page_size: int = 100) -> Many:
        return self._many(self.path, _list_params(sort, filter), page_size)

    def get(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}")

    def pause(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/pause", idempotency_key=idempotency_key)

    def resume(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/resume", idempotency_key=idempotency_key)

    def cancel(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/cancel", idempotency_key=idempotency_key)

    def decide_step(
        self, id: str, node_id: str, body: m.StepDecision | Body, *, idempotency_key: str | None = None
    ) -> One:
        path = f"{self.path}/{_id(id)}/steps/{_id(node_id)}/decision"
        return self._one("POST", path, body=body, idempotency_key=idempotency_key)

    def steps(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/steps")

    def step(self, id: str, node_id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/steps/{_id(node_id)}")

    def step_logs(self, id: str, node_id: str, *, offset: int = 0, limit: int = 200) -> One:
        path = f"{self.path}/{_id(id)}/steps/{_id(node_id)}/logs"
        return self._one("GET", path, params={"offset": offset, "limit": limit})

    def step_artifacts(self, id: str, node_id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/steps/{_id(node_id)}/artifacts")

    def stream(self, id: str, *, since: int = 0, max_reconnects: int = 5) -> Many:
        """The run's events (state changes, log lines) until ``end``, resumed after disconnects."""
        return self._stream(f"{self.path}/{_id(id)}/stream", since, max_reconnects)


class Promotions(_Group[One, Many, Raw, PageT]):
    path = "/api/v1/promotions"

    def create(self, body: m.PromotionCreate | Body, *, idempotency_key: str | None = None) -> One:
        """Request a promotion; a failing gate raises :class:`PromotionBlockedError` (the promotion is kept)."""
        return self._one("POST", self.path, body=body, idempotency_key=idempotency_key)

    def list(self, *, sort: str | None = None, filter: Filter = None, page_size: int = 100) -> Many:
        return self._many(self.path, _list_params(sort, filter), page_size)

    def get(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}")

    def preview_gates(self, body: m.GatePreview | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/preview-gates", body=body, idempotency_key=idempotency_key)

    def decision(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/decision")

    def approvals(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/approvals")

    def approve(self, id: str, comment: str = "", *, idempotency_key: str | None = None) -> One:
        body = {"comment": comment}
        return self._one("POST", f"{self.path}/{_id(id)}/approve", body=body, idempotency_key=idempotency_key)

    def reject(self, id: str, comment: str = "", *, idempotency_key: str | None = None) -> One:
        body = {"comment": comment}
        return self._one("POST", f"{self.path}/{_id(id)}/reject", body=body, idempotency_key=idempotency_key)

    def cancel(self, id: str, comment: str = "", *, idempotency_key: str | None = None) -> One:
        body = {"comment": comment}
        return self._one("POST", f"{self.path}/{_id(id)}/cancel", body=body, idempotency_key=idempotency_key)

    def evidence(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/evidence")

    def create_approval_policy(self, body: m.ApprovalPolicyCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", "/api/v1/approval-policies", body=body, idempotency_key=idempotency_key)

    def list_approval_policies(self) -> Many:
        return self._many("/api/v1/approval-policies")

    def pending_approvals(self) -> Many:
        return self._many("/api/v1/my/pending-approvals")


class Deployments(_Group[One, Many, Raw, PageT]):
    """Deployment jobs and rollbacks."""

    path = "/api/v1/deployment-jobs"

    def list(self, *, sort: str | None = None, filter: Filter = None, page_size: int = 100) -> Many:
        return self._many(self.path, _list_params(sort, filter), page_size)

    def get(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}")

    def tasks(self, id: str) -> Many:
        return self._many(f"{self.path}/{_id(id)}/tasks")

    def task(self, id: str, task_id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/tasks/{_id(task_id)}")

    def task_logs(self, id: str, task_id: str, *, offset: int = 0, limit: int = 200) -> One:
        path = f"{self.path}/{_id(id)}/tasks/{_id(task_id)}/logs"
        return self._one("GET", path, params={"offset": offset, "limit": limit})

    def artifacts(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/artifacts")

    def download_artifact(self, id: str, artifact_id: str) -> Raw:
        return self._raw("GET", f"{self.path}/{_id(id)}/artifacts/{_id(artifact_id)}")

    def stream(self, id: str, *, since: int = 0, max_reconnects: int = 5) -> Many:
        """The job's events (its state, its tasks', their log lines) until ``end``, resumed after disconnects."""
        return self._stream(f"{self.path}/{_id(id)}/stream", since, max_reconnects)

    def dashboard_stream(self, *, since: int = 0, max_reconnects: int = 5) -> Many:
        """The tenant's pipeline as it moves (never ends), resumed after disconnects."""
        return self._stream("/api/v1/dashboard/stream", since, max_reconnects)

    def rollback(self, body: m.RollbackCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", "/api/v1/rollbacks", body=body, idempotency_key=idempotency_key)

    def list_rollbacks(self, *, sort: str | None = None, filter: Filter = None) -> Many:
        return self._many("/api/v1/rollbacks", _list_params(sort, filter))


class VariableSets(_Crud[One, Many, Raw, PageT]):
    path = "/api/v1/variable-sets"

    def create(self, body: m.VariableSetFields | Body, *, idempotency_key: str | None = None) -> One:
        return self._create(body, idempotency_key)

    def replace(self, id: str, body: m.VariableSetReplace | Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)


class Evidence(_Group[One, Many, Raw, PageT]):
    path = "/api/v1/evidence-packets"

    def list(self, *, sort: str | None = None, filter: Filter = None, page_size: int = 100) -> Many:
        return self._many(self.path, _list_params(sort, filter), page_size)

    def get(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}")

    def download(self, id: str) -> Raw:
        """The DSSE envelope exactly as signed (bytes of JSON)."""
        return self._raw("GET", f"{self.path}/{_id(id)}/download")

    def signing_keys(self) -> One:
        return self._one("GET", "/api/v1/signing-keys")

    def list_stickers(self, *, sort: str | None = None, filter: Filter = None) -> Many:
        return self._many("/api/v1/version-stickers", _list_params(sort, filter))

    def get_sticker(self, id: str) -> One:
        return self._one("GET", f"/api/v1/version-stickers/{_id(id)}")


class Audit(_Group[One, Many, Raw, PageT]):
    def list_events(self, *, sort: str | None = None, filter: Filter = None, page_size: int = 100) -> Many:
        return self._many("/api/v1/audit-events", _list_params(sort, filter), page_size)

    def events_page(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        sort: str | None = None,
        filter: Filter = None,
    ) -> PageT:
        params = _list_params(sort, filter, {"page": page, "pageSize": page_size, "cursor": cursor})
        return self._page("/api/v1/audit-events", params)

    def create_report(self, body: m.AuditReportCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", "/api/v1/audit-reports", body=body, idempotency_key=idempotency_key)

    def list_reports(self) -> Many:
        return self._many("/api/v1/audit-reports")

    def get_report(self, id: str) -> One:
        return self._one("GET", f"/api/v1/audit-reports/{_id(id)}")

    def download_report(self, id: str) -> Raw:
        return self._raw("GET", f"/api/v1/audit-reports/{_id(id)}/download")

    def retention_policy(self) -> One:
        return self._one("GET", "/api/v1/retention-policy")

    def set_retention_policy(self, body: m.RetentionPolicyBody | Body) -> One:
        return self._one("PUT", "/api/v1/retention-policy", body=body)

    def prune(self, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", "/api/v1/retention-policy/prune", idempotency_key=idempotency_key)


class Plugins(_Group[One, Many, Raw, PageT]):
    path = "/api/v1/plugins"
    instances = "/api/v1/plugin-instances"

    def list(self) -> Many:
        return self._many(self.path)

    def get(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}")

    def enable(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/enable", idempotency_key=idempotency_key)

    def disable(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/disable", idempotency_key=idempotency_key)

    def health(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/health")

    def list_instances(self, *, sort: str | None = None, filter: Filter = None) -> Many:
        return self._many(self.instances, _list_params(sort, filter))

    def get_instance(self, id: str) -> One:
        return self._one("GET", f"{self.instances}/{_id(id)}")

    def create_instance(self, body: m.PluginInstanceCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", self.instances, body=body, idempotency_key=idempotency_key)

    def replace_instance(
        self, id: str, body: m.PluginInstanceReplace | Body, *, if_match: int | str | None = None
    ) -> One:
        return self._one("PUT", f"{self.instances}/{_id(id)}", body=body, headers=_if_match(if_match))

    def delete_instance(self, id: str, *, if_match: int | str | None = None) -> One:
        return self._one("DELETE", f"{self.instances}/{_id(id)}", headers=_if_match(if_match))


class ABReleases(_Group[One, Many, Raw, PageT]):
    path = "/api/v1/ab-releases"

    def create(self, body: m.ABReleaseCreate | Body, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", self.path, body=body, idempotency_key=idempotency_key)

    def list(self, *, sort: str | None = None, filter: Filter = None) -> Many:
        return self._many(self.path, _list_params(sort, filter))

    def get(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}")

    def _act(self, id: str, action: str, body: Any, idempotency_key: str | None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/{action}", body=body, idempotency_key=idempotency_key)

    def start(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._act(id, "start", None, idempotency_key)

    def advance(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._act(id, "advance", None, idempotency_key)

    def promote(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._act(id, "promote", None, idempotency_key)

    def rollback(self, id: str, reason: str = "", *, idempotency_key: str | None = None) -> One:
        return self._act(id, "rollback", {"reason": reason}, idempotency_key)

    def traffic(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/traffic")

    def health(self, id: str) -> One:
        return self._one("GET", f"{self.path}/{_id(id)}/health")

    def list_rollout_strategies(self) -> Many:
        return self._many("/api/v1/rollout-strategies")


class ServiceAccounts(_Crud[One, Many, Raw, PageT]):
    """Machine identities (admins): the secret is in the answer of ``create`` and
    ``rotate_secret`` only, once."""

    path = "/api/v1/service-accounts"

    def create(self, body: Body, *, idempotency_key: str | None = None) -> One:
        return self._create(body, idempotency_key)

    def update(self, id: str, body: Body, *, if_match: int | str | None = None) -> One:
        return self._replace(id, body, if_match)

    def rotate_secret(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/rotate-secret", idempotency_key=idempotency_key)

    def revoke(self, id: str, *, idempotency_key: str | None = None) -> One:
        return self._one("POST", f"{self.path}/{_id(id)}/revoke", idempotency_key=idempotency_key)


class Operations(_Group[One, Many, Raw, PageT]):
    """Probes (no token needed) and the OpenAPI document."""

    def healthz(self) -> One:
        return self._one("GET", "/healthz")

    def readyz(self) -> One:
        return self._one("GET", "/readyz")

    def metrics(self) -> Raw:
        return self._raw("GET", "/metrics")

    def openapi(self) -> One:
        return self._one("GET", "/api/openapi.json")
