"""``scrub``: remove secrets from an error text before it is stored, logged or shown.

Its own module (not ``sinks/eventhub.py``) so that the Dagster definitions and the CLI can clean an
error text without importing the Azure SDK module; ``sinks.eventhub`` re-exports it.
"""

from __future__ import annotations

import re

_SECRET = re.compile(r"(SharedAccessKey(?:Name)?|SharedAccessSignature)=[^;\s]*", re.IGNORECASE)


def scrub(text: str) -> str:
    """Replace the value of anything that looks like an Event Hubs key or signature with ``***``."""
    return _SECRET.sub(r"\1=***", text)
