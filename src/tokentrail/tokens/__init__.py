"""Token counting: exact and offline for OpenAI models, labelled estimates for every other model.

For OpenAI models (GPT-4o, GPT-4.1, GPT-4.5, GPT-5, o1/o3/o4, gpt-oss -> ``o200k_base``; GPT-4, GPT-3.5,
text-embedding-3, ada-002 -> ``cl100k_base``) counts come from tiktoken with the BPE files shipped inside this
package: no download, no network, no environment variable. Each file's SHA-256 is checked when it is loaded, and
it is loaded lazily, once per process, thread-safely; importing ``tokentrail`` or ``tokentrail.tokens`` does not
import tiktoken. Text is always counted as plain text: ``<|endoftext|>`` and other special-token strings are
never special and never an error. Chat messages follow OpenAI's published per-message formula.

For other models (Claude, Gemini, Llama, Mistral, ...) whose tokenizers are not available offline, counts are
estimates from a cheap heuristic and say so: ``TokenCount.exact`` is False and ``method`` names the heuristic.
The measured error of the estimate is in ``docs/tokens.md``.

Every count is a ``TokenCount``; ``int(count)`` is the number. Bad input raises ``tokentrail.errors.ValidationError``
naming the field and the value.

```python
from tokentrail.tokens import count_tokens, count_message_tokens
count_tokens("Hello, world!", "gpt-4o")        # TokenCount(tokens=4, exact=True, method='tiktoken:o200k_base', ...)
count_tokens("Hello, world!", "claude-sonnet-4-5")  # exact=False, method='estimate:heuristic-v1'
```
"""

from __future__ import annotations

from ._count import count_tokens, truncate_to_tokens
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
    "get_encoding",
    "truncate_to_tokens",
]
