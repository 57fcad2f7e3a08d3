"""Formatting shared by the report's sections: ratios, the "other CPU" cell, aligned tables."""

from __future__ import annotations


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def format_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def format_foreign(foreign: dict | None) -> str:
    """The server core's share used by others, e.g. "2%"; "-" when nothing was pinned."""
    return "-" if not foreign else f"{foreign['server_core']:.0f}%"


def table(rows: list[tuple[str, ...]]) -> list[str]:
    # Rows shorter than the header (a server not measured) are printed as they are.
    full = [row for row in rows if len(row) == len(rows[0])]
    widths = [max(len(row[i]) for row in full) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        if len(row) != len(rows[0]):
            out.append("  " + "  ".join(row))
            continue
        cells = [
            cell.ljust(widths[i]) if i == 0 or i == len(row) - 1 else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out
