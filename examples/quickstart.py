"""The three-line start: record calls on the default store (SQLite in your data folder) and summarise them.

Run: python examples/quickstart.py
"""

import tokentrail as tt

tt.record(model="gpt-4o", input_tokens=1200, output_tokens=300, agent="support", user="u-42")
tt.record(
    model="claude-sonnet-4-20250514", input_tokens=5000, output_tokens=800, cache_read_tokens=4000, agent="research"
)
tt.record(
    model="my-finetune-v3", input_tokens=900, output_tokens=120, agent="support"
)  # no known price: unpriced, not $0
print(tt.summary(period="today"))
