"""JSON as weir writes it: compact, UTF-8, keys in their order."""

import json
from typing import Any


def dumps(value: Any) -> str:
    """``value`` as compact JSON (``{"a":1}``), non-ASCII text kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
