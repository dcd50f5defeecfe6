import inspect
import typing

import pluggy
import pytest

import shiplane_sdk
from shiplane_sdk import (
    ENTRY_POINT_GROUP,
    HOOK_NAMES,
    PROJECT_NAME,
    REGISTRATION_HOOKS,
    Capability,
    Event,
    Gate,
    GateResult,
    PluginInfo,
    create_plugin_manager,
    hookimpl,
    hookspecs,
)
from shiplane_sdk.testing import registered_plugin, resolve


def _hookspec_functions():
    return {
        name: func
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, f"{PROJECT_NAME}_spec")
    }


def test_constants():
    assert shiplane_sdk.__version__ == "0.1.0"
    assert PROJECT_NAME == "shiplane"
    assert ENTRY_POINT_GROUP == "shiplane.plugins"


def test_every_name_in_all_exists():
    for name in shiplane_sdk.__all__:
        assert hasattr(shiplane_sdk, name), name
    assert len(set(shiplane_sdk.__all__)) == len(shiplane_sdk.__all__)


def test_hook_names_lists_exactly_the_hookspecs():
    assert set(HOOK_NAMES) == set(_hookspec_functions())
    assert len(HOOK_NAMES) == 11


def test_markers_are_of_the_shiplane_project():
    assert isinstance(hookimpl, pluggy.HookimplMarker)
    assert hookimpl.project_name == "shiplane"
    assert hookspecs.hookspec.project_name == "shiplane"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_each_hookspec_is_typed_and_documented(name):
    func = _hookspec_functions()[name]
    hints = typing.get_type_hints(func)
    assert "return" in hints
    for parameter in inspect.signature(func).parameters:
        assert parameter in hints, f"{name}({parameter}) has no annotation"
    doc = inspect.getdoc(func)
    assert doc and len(doc.splitlines()) >= 3, f"{name} needs a contract docstring"


def test_firstresult_only_for_per_plugin_hooks():
    options = {name: func.shiplane_spec for name, func in _hookspec_functions().items()}
    assert {n for n, o in options.items() if o["firstresult"]} == {"plugin_info", "plugin_health"}


def test_registration_hooks_map_to_capability_kinds():
    assert set(REGISTRATION_HOOKS) == {n for n in HOOK_NAMES if n.startswith("register_")}
    assert all(issubclass(base, Capability) for base in REGISTRATION_HOOKS.values())
    assert len({base.kind for base in REGISTRATION_HOOKS.values()}) == 6


class _Pass(Gate):
    id = "pass"
    display_name = "Pass"
    description = "Always passes."

    def evaluate(self, ctx, config):
        return GateResult.passed()


class _WellFormedPlugin:
    def __init__(self):
        self.events = []

    @hookimpl
    def plugin_info(self):
        return PluginInfo(name="Sample", version="1.0")

    @hookimpl
    def register_gates(self):
        return [_Pass()]

    @hookimpl
    async def on_event(self, event):
        self.events.append(event.id)


class _MisspelledPlugin:
    @hookimpl
    def register_gatez(self):
        return []


class _WrongArgumentPlugin:
    @hookimpl
    def on_event(self, event, extra):
        return None


def test_create_plugin_manager_knows_every_hook():
    manager = create_plugin_manager()
    assert manager.project_name == "shiplane"
    for name in HOOK_NAMES:
        assert getattr(manager.hook, name).spec is not None


def test_registered_plugin_registers_for_the_block_only():
    plugin = _WellFormedPlugin()
    with registered_plugin(plugin, name="sample") as manager:
        assert manager.get_plugin("sample") is plugin
        assert manager.hook.plugin_info().name == "Sample"
        assert [[g.id for g in gates] for gates in manager.hook.register_gates()] == [["pass"]]
        event = Event(
            id="e1",
            type="release.created",
            tenant_id="t",
            occurred_at="2026-01-01T00:00:00Z",
            resource_type="release",
            resource_id="r1",
        )
        for awaitable in manager.hook.on_event(event=event):
            resolve(awaitable)
        assert plugin.events == ["e1"]
    assert manager.get_plugin("sample") is None
    assert not manager.is_registered(plugin)


def test_registered_plugin_rejects_a_misspelled_hook():
    with pytest.raises(pluggy.PluginValidationError, match="register_gatez"):
        with registered_plugin(_MisspelledPlugin(), name="typo"):
            pass


def test_registered_plugin_unregisters_after_a_failed_check(monkeypatch):
    from shiplane_sdk.testing import plugins

    created = []

    def capture():
        created.append(create_plugin_manager())
        return created[-1]

    monkeypatch.setattr(plugins, "create_plugin_manager", capture)
    plugin = _MisspelledPlugin()
    with pytest.raises(pluggy.PluginValidationError):
        with registered_plugin(plugin, name="typo"):
            pass
    assert not created[0].is_registered(plugin)


def test_registered_plugin_rejects_unknown_hook_arguments():
    with pytest.raises(pluggy.PluginValidationError, match="extra"):
        with registered_plugin(_WrongArgumentPlugin(), name="args"):
            pass
