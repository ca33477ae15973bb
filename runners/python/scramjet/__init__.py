"""The Scramjet framework for Python as weir's Python runner provides it.

Sequences import ``scramjet.streams`` (``Stream``, ``StringStream``) as they do on the
Scramjet hub; this implementation runs on the runner's event loop. A ``scramjet`` package
bundled in a sequence's ``__pypackages__`` is not used: the runner's is already imported.
"""
