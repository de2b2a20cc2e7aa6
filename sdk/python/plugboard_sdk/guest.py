"""The module componentize-py builds: `componentize-py ... componentize plugboard_sdk.guest`.

It imports the author's `plugin.py` (a top-level module: the plugin folder is on the
build's Python path), which calls `plugboard_sdk.export(TheirPlugin)`, and defines here
the classes componentize-py looks for, one per exported interface of the world `plugin`.
Building `plugin` itself as the entry module works too: `export` defines the same
classes in the plugin's module.
"""

import sys

import plugin  # noqa: F401  the author's plugin.py, not plugboard_sdk._plugin

from . import _host
from ._plugin import exported_plugin

_plugin_class = exported_plugin()
if _plugin_class is None:
    raise RuntimeError(
        "plugin.py does not export a plugin: end it with `plugboard_sdk.export(YourPlugin)`, "
        "YourPlugin being its subclass of plugboard_sdk.Plugin"
    )
if _host.IN_COMPONENT:
    from . import _component

    _component.define_exports(_plugin_class, sys.modules[__name__])
