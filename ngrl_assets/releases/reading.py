"""What ``ngrl release list / show / diff`` print, through the registry (a release that is
not in the registry as published does not exist for readers)."""

from __future__ import annotations

from ngrl_assets.consent import linkage
from ngrl_assets.releases import registry
from ngrl_assets.releases.notes import delivery_changes
from resources.errors import Refused
from resources.lake import Lake


class UnknownRelease(Refused, KeyError):
    rule = "release_unknown"


def published(lake: Lake, release_id: str) -> registry.Published:
    """The registry's row of a published release; :class:`UnknownRelease` if none."""
    found = registry.get(lake, release_id)
    if found is None:
        raise UnknownRelease(f"no published release {release_id!r} (see `ngrl release list`)")
    return found


def list_text(lake: Lake) -> str:
    rows = registry.list_published(lake)
    if not rows:
        return "no published releases\n"
    lines = ["release\tlabel\tfreeze date\tparticipants\tgenomes\tpublished at\tstatus"]
    for r in rows:
        lines.append(
            f"{r.release_id}\t{r.label or '-'}\t{r.freeze_date}\t{r.participants}\t{r.samples}\t"
            f"{r.published_at:%Y-%m-%d %H:%M}\t{r.status}"
        )
    return "\n".join(lines) + "\n"


def show_text(lake: Lake, release_id: str) -> str:
    entry = published(lake, release_id)
    manifest = registry.read_manifest(lake, release_id)
    failed = [g for g in manifest["gate"] if not g["passed"]]
    lines = [
        f"release {release_id} ({entry.label or 'no label'}), freeze date {entry.freeze_date}",
        f"participants {entry.participants}, genomes {entry.samples}, "
        f"parent {entry.parent_release or '-'}, code {manifest.get('code_version')}",
        f"gate: {'go' if not failed else 'no-go'} ({len(manifest['gate'])} rules checked)",
        f"notes: {lake.uri('releases', release_id, 'notes')}",
        "tables:",
    ]
    for name, t in sorted(manifest["tables"].items()):
        contains = ", ".join(t.get("deliveries", [])) or "-"
        lines.append(
            f"  {name}\t{t['rows']} rows\tDelta v{t['delta_version']}\tdeliveries: {contains}"
        )
    history = manifest.get("history", [])
    lines.append("history: " + ", ".join(f"{h['event']} {h['at'][:19]}" for h in history))
    return "\n".join(lines) + "\n"


def diff(lake: Lake, a: str, b: str) -> dict[str, object]:
    published(lake, a), published(lake, b)
    ma, mb = registry.read_manifest(lake, a), registry.read_manifest(lake, b)
    change = linkage.cohort_change(lake, a, b)
    tables: dict[str, object] = {}
    for name in sorted(set(ma["tables"]) | set(mb["tables"])):
        ta, tb = ma["tables"].get(name), mb["tables"].get(name)
        if ta is None or tb is None:
            tables[name] = "added" if ta is None else "removed"
            continue
        sa, sb = ta["schema"], tb["schema"]
        added, removed = delivery_changes(tb.get("deliveries", []), ta.get("deliveries", []))
        tables[name] = {
            "rows": tb["rows"] - ta["rows"],
            "deliveries_added": added,
            "deliveries_removed": removed,
            "columns_added": sorted(set(sb) - set(sa)),
            "columns_removed": sorted(set(sa) - set(sb)),
            "types_changed": sorted(c for c in set(sa) & set(sb) if sa[c] != sb[c]),
        }
    return {"participants": change, "tables": tables}


def diff_text(lake: Lake, a: str, b: str, threshold: int = 5) -> str:
    d = diff(lake, a, b)
    change = d["participants"]
    assert isinstance(change, dict)

    def shown(n: int) -> str:  # small numbers suppressed, as in the notes
        return f"<{threshold}" if 0 < n < threshold else str(n)

    lines = [
        f"{a} -> {b}: participants +{shown(change['added'])} -{shown(change['removed'])} "
        f"(kept {shown(change['kept'])})"
    ]
    tables = d["tables"]
    assert isinstance(tables, dict)
    for name, t in tables.items():
        if isinstance(t, str):
            lines.append(f"  {name}: table {t}")
            continue
        parts = [f"rows {t['rows']:+d}"]
        for label in (
            "deliveries_added",
            "deliveries_removed",
            "columns_added",
            "columns_removed",
            "types_changed",
        ):
            if t[label]:
                parts.append(f"{label.replace('_', ' ')}: {', '.join(t[label])}")
        lines.append(f"  {name}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"
