"""stilts: English intermediate-task training, evaluated zero-shot across languages.

Importing this package is cheap: it never imports torch, transformers or datasets. Those are
imported lazily by the modules that train or evaluate.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Project name, used for the pluggy project and the entry-point group prefix.
NAME = "stilts"
#: Entry-point group that built-in and third-party plugins register under.
ENTRY_POINT_GROUP = "stilts.plugins"

#: Marker for plugin hook implementations: ``@hookimpl def stilts_task_types(): ...``
hookimpl = pluggy.HookimplMarker(NAME)

__all__ = ["ENTRY_POINT_GROUP", "NAME", "__version__", "hookimpl"]
