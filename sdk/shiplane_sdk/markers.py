"""The pluggy markers of the ``shiplane`` project.

``hookimpl`` is what a plugin uses::

    from shiplane_sdk import hookimpl

    @hookimpl
    def register_gates():
        return [MyGate()]

``hookspec`` is used only by :mod:`shiplane_sdk.hookspecs`.
"""

import pluggy

#: The pluggy project name. Hook specs, hook implementations and the core's
#: ``PluginManager`` all use it; markers of another project are ignored.
PROJECT_NAME = "shiplane"

#: The entry-point group installed distributions declare plugins in. The
#: entry-point name is the plugin id.
ENTRY_POINT_GROUP = "shiplane.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
