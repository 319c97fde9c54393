"""The lifecycle tables as Mermaid state diagrams, for the README: `python -m core.lifecycle_diagram`.

Generated from core.lifecycle.LIFECYCLES so the picture can never drift from the code.
"""

from __future__ import annotations

import sys

from core.lifecycle import LIFECYCLES, Transition


def mermaid(name: str, table: tuple[Transition, ...]) -> str:
    lines = ["```mermaid", "stateDiagram-v2", f"    %% {name}"]
    for row in table:
        label = f"{row.event} ({row.actor})"
        if row.condition != "always":
            label += f" [{row.condition}]"
        for source in sorted(row.sources):
            lines.append(f"    {source} --> {row.target}: {label}")
    lines.append("```")
    return "\n".join(lines)


def document() -> str:
    parts = []
    for name, table in LIFECYCLES.items():
        parts.append(f"#### {name.capitalize()}\n\n{mermaid(name, table)}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(document())
