"""Store URLs safe to show: passwords replaced by `***`.

A leaf module (standard library only), so every backend can mask its URL in messages without importing
the `store` package that opens it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["mask_url"]

_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pwd|sslpassword)=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with any password (in the user part or a `?password=` parameter) replaced by `***`.

    Example:
        >>> mask_url("postgresql://app:s3cret@db/x?sslmode=require&password=s3cret")
        'postgresql://app:***@db/x?sslmode=require&password=***'
    """
    try:
        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            url = urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        pass
    return _QUERY_SECRET.sub(r"\1***", url)
