"""Importers: bring usage recorded by other tools into a tokentrail store as ordinary Calls.

An importer reads another tool's files, turns each record into a `Call` and writes the Calls to a
Store in batches. Guarantees:

- Idempotent: each Call's id is derived from the record it came from (not drawn at random), and stores
  skip an id they already hold, so importing the same folder again — or again after lines were appended
  to it — adds only what is new. A run reports how many records were read, imported, already present
  and skipped.
- Nothing is invented: counts and recorded costs are kept as the tool wrote them (`price_source`
  `reported`); a record without a cost is priced from the price tables at its own date, or left
  unpriced (`cost_usd = None`), never costed at $0.
- A bad record is skipped, named by `file:line` and the reason, and counted; it never stops the rest.
  Every imported Call carries the label `source` naming the tool it came from.

Importers today: `llm_telemetry` (the earlier telemetry tool's `.llm-telemetry/YYYY-MM-DD/telemetry.jsonl`).
"""

from __future__ import annotations

from .llm_telemetry import ImportResult, call_from_record, import_llm_telemetry

__all__ = ["ImportResult", "call_from_record", "import_llm_telemetry"]
