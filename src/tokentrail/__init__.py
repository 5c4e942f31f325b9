"""tokentrail: record every LLM call and answer what it cost."""
