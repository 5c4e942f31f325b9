"""Write the README's table of settings from `tokentrail.config.PARAMS` (the one declaration of them).

Run: python scripts/gen_config_docs.py   (tests/test_docs.py checks the README is up to date)
"""

from __future__ import annotations

import re
from pathlib import Path

from tokentrail.config import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def render() -> str:
    lines = ["| environment variable | file key | default | meaning |", "| --- | --- | --- | --- |"]
    for env, key, default, doc in settings_table():
        names = ", ".join(f"`{name}`" for name in env.split(", "))
        lines.append(f"| {names} | `{key}` | {default} | {doc} |")
    return "\n".join([START, *lines, END])


def update(text: str) -> str:
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: render(), text)
    return text.replace("CONFIG_TABLE", render())


if __name__ == "__main__":
    README.write_text(update(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the settings table in {README}")
