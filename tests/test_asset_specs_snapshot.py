"""Snapshot of every asset spec and check: a change to keys, groups, kinds, owners, zones,
dependencies, descriptions or table schemas must be deliberate. Regenerate with
``NGRL_UPDATE_SNAPSHOTS=1 uv run pytest tests/test_asset_specs_snapshot.py``."""

import json
import os
from pathlib import Path

from ngrl_assets.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_specs.json"


def current() -> dict:
    graph = defs.resolve_asset_graph()
    out: dict = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        schema = node.metadata.get("dagster/column_schema")
        out[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": list(node.owners),
            "tags": dict(sorted(node.tags.items())),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "description": node.description,
            "pool": sorted(node.pools) if node.pools else None,
            "columns": [[c.name, c.type] for c in schema.columns] if schema else None,
            "checks": sorted(k.name for k in node.check_keys),
        }
    return out


def test_asset_specs_match_snapshot():
    got = current()
    if os.environ.get("NGRL_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(SNAPSHOT.read_text())


def test_every_asset_is_documented_owned_and_zoned():
    for key, spec in current().items():
        assert spec["description"] and len(spec["description"]) > 80, key
        assert spec["owners"], key
        assert spec["tags"].get("ngrl/zone"), key
        assert spec["columns"], key
