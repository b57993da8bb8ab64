#!/usr/bin/env python3
"""Merges the market entries of the starters (NAME/market.json) into one
market index, sorted by name. Usage: market_index.py OUT ENTRY..."""
import json
import sys

entries = []
for path in sys.argv[2:]:
    with open(path) as f:
        entry = json.load(f)
    if not isinstance(entry, dict) or "name" not in entry:
        sys.exit(f"market_index: {path}: an entry needs a \"name\"")
    entries.append(entry)
entries.sort(key=lambda e: e["name"])
with open(sys.argv[1], "w") as f:
    json.dump({"market": 1, "starters": entries}, f, indent=2)
    f.write("\n")
