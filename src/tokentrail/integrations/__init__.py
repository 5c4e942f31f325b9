"""Integrations: record the LLM calls of frameworks through their own callback systems.

- `tokentrail.integrations.langchain.TokentrailCallback` — a LangChain callback handler (chat models and
  LLMs, sync and async, streamed or not), mapping LangChain's run tree onto tokentrail's workflow spans.
- `tokentrail.integrations.litellm.TokentrailLogger` — a LiteLLM custom logger for `litellm.callbacks`.

Both read the usage the provider reported (normalized by `tokentrail.capture.usage`), record the
provider's response id so a call also captured by an instrumented SDK is stored once, and never raise
into the framework. Importing this package imports neither framework; each module needs its own.
"""
