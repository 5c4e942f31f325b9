"""Token counting: exact and offline for OpenAI models, labelled estimates for every other model.

For OpenAI models (GPT-4o, GPT-4.1, GPT-4.5, GPT-5, o1/o3/o4, gpt-oss -> ``o200k_base``; GPT-4, GPT-3.5,
text-embedding-3, ada-002 -> ``cl100k_base``) counts come from tiktoken with the BPE files shipped inside this
package: no download, no network, no environment variable. Each file's SHA-256 is checked when it is loaded, and
it is loaded lazily, once per process, thread-safely; importing ``tokentrail`` or ``tokentrail.tokens`` does not
import tiktoken. Text is always counted as plain text: ``<|endoftext|>`` and other special-token strings are
never special and never an error. Chat messages follow OpenAI's published per-message formula.

For other models (Claude, Gemini, Llama, Mistral, ...) whose tokenizers are not available offline, counts are
estimates from a cheap heuristic and say so: ``TokenCount.exact`` is False and ``method`` names the heuristic.
``estimate_tokens(text)`` gives that estimate when no model is known at all. On held-out text the estimate is
within about 5% of OpenAI's tokenizers for English prose, code and JSON, and up to about ±50% off for other
languages and CJK.

Every count is a ``TokenCount``, which is an ``int``: pass it wherever a count goes
(``calculate_cost("gpt-4", count_tokens(text, "gpt-4"), 500)``), add it, format it; ``exact``, ``method`` and
``model`` say how it was counted. Bad input raises ``tokentrail.errors.ValidationError`` naming the field and
the value.

```python
from tokentrail.tokens import count_tokens, count_message_tokens
count_tokens("Hello, world!", "gpt-4o")        # TokenCount(tokens=4, exact=True, method='tiktoken:o200k_base', ...)
count_tokens("Hello, world!", "claude-sonnet-4-5")  # exact=False, method='estimate:heuristic-v1'
estimate_tokens("Hello, world!")               # exact=False, model=None
```
"""

from __future__ import annotations

from ._count import count_tokens, estimate_tokens, truncate_to_tokens
from ._loader import ENCODING_NAMES, EncodingFileError, get_encoding
from ._messages import count_message_tokens
from ._models import encoding_for_model
from ._types import TokenCount

__all__ = [
    "ENCODING_NAMES",
    "EncodingFileError",
    "TokenCount",
    "count_message_tokens",
    "count_tokens",
    "encoding_for_model",
    "estimate_tokens",
    "get_encoding",
    "truncate_to_tokens",
]
