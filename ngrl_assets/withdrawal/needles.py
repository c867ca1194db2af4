"""What the residue scan looks for, and its report.

:func:`needles_for` asks ``consent.linkage`` (the identity zone's one door) for every value
that names one participant; :func:`render_report` turns the scanner's findings into
Markdown that names each needle by its *kind* ("internal id", "pseudonym (release v1)"),
never by its value, so the report can be filed with the erasure record. No Dagster here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from ngrl_assets.consent import linkage
from ngrl_assets.genomics.tables import RAW_SEQUENCES
from ngrl_assets.releases import pseudonyms, registry
from ngrl_assets.withdrawal.scan import Finding
from resources.lake import Lake


def needles_for(
    lake: Lake,
    participant_reference: str,
    release_key: Callable[[str], bytes] | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> tuple[list[str], list[str]]:
    """``(needles, kinds)`` for one participant: the values to pass to
    :func:`ngrl_assets.withdrawal.scan.scan` and, index for index, what each one is (to pass
    to :func:`render_report`). Values: the reference itself, internal id, NHS number,
    sample ids and every release pseudonym ever given to the participant or their samples.

    After erasure the registry no longer knows the participant: the tombstone (found by
    the reference's keyed hash) still gives the internal id, and with ``release_key``
    (release id -> its key) each published release's participant pseudonym is derived
    again. NHS number and sample ids are gone with the registry; the caller may hand them
    in as ``extra`` ``(kind, value)`` pairs (the DPO may hold them). Keep the needles in
    memory only; print or store the kinds, never the values."""
    pairs = linkage.participant_needles(lake, participant_reference, RAW_SEQUENCES)
    if not any(kind == "internal id" for kind, _ in pairs):
        owner = linkage.withdrawn_references(lake, [participant_reference]).get(
            participant_reference
        )
        if owner:
            pairs.append(("internal id", owner))
            for release in registry.list_published(lake) if release_key else []:
                assert release_key is not None
                value = pseudonyms.pseudonym(release_key(release.release_id), "participant", owner)
                pairs.append((f"pseudonym (release {release.release_id})", value))
    seen = {value for _, value in pairs}
    for kind, value in extra:
        if value and value not in seen:
            pairs.append((kind, value))
            seen.add(value)
    return [value for _, value in pairs], [kind for kind, _ in pairs]


def _label(index: int, kinds: Sequence[str] | None) -> str:
    if kinds is not None and 0 <= index < len(kinds):
        return kinds[index]
    return f"needle {index}"


def render_report(
    findings: Sequence[Finding], n_needles: int, kinds: Sequence[str] | None = None
) -> str:
    """Markdown: a summary, then per object the kind of decoder, where and which needle
    (by kind, from ``kinds``, else by number). Safe to print: findings hold no needle."""
    lines = ["# Residue scan", ""]
    searched = f"{n_needles} value{'s' if n_needles != 1 else ''} searched"
    if kinds:
        counts = Counter(kinds)
        searched += ": " + ", ".join(
            f"{n} {kind}" if n > 1 else kind for kind, n in sorted(counts.items())
        )
    lines.append(f"- {searched}")
    by_object: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_object[f.uri].append(f)
    if not findings:
        lines += ["- **No residue found** in any object scanned.", ""]
        return "\n".join(lines)
    lines += [
        f"- **Residue found**: {len(findings)} finding{'s' if len(findings) != 1 else ''} "
        f"in {len(by_object)} object{'s' if len(by_object) != 1 else ''}",
        "",
    ]
    for uri in sorted(by_object):
        lines += [f"## `{uri}`", "", "| decoder | where | value |", "|---|---|---|"]
        for f in sorted(by_object[uri], key=lambda x: (x.kind, x.where, x.needle_index)):
            where = f.where.replace("|", "\\|")
            lines.append(f"| {f.kind} | {where} | {_label(f.needle_index, kinds)} |")
        lines.append("")
    return "\n".join(lines)
