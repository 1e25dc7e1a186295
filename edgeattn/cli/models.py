"""List the model zoo: name, parameters, GFLOPs (multiply-adds at 224x224) and attention type.

GFLOPs follow the SENet/CBAM papers: multiply-adds of the conv and linear layers, in billions.
"""

from __future__ import annotations

import typer

from ._errors import echo_json
from ._options import JsonOpt

AttentionFilter = typer.Option(
    None, "--attention", "-a", help="Only models with this attention: se, cbam or none.", show_default=False
)


def command(
    json_output: JsonOpt = False,
    attention: str = AttentionFilter,  # type: ignore[assignment]
) -> None:
    from ..errors import InputError
    from ..models.zoo import zoo_table

    if attention is not None and attention not in ("se", "cbam", "none"):
        raise InputError(f"--attention must be se, cbam or none, got {attention!r}")
    rows = [r for r in zoo_table() if attention is None or r["attention"] == attention]
    if json_output:
        echo_json(rows)
        return
    from ._errors import report_console
    from rich.table import Table

    table = Table(title="edgeattn model zoo (GFLOPs = multiply-adds at 224x224)")
    table.add_column("name")
    table.add_column("params", justify="right")
    table.add_column("GFLOPs", justify="right")
    table.add_column("attention")
    table.add_column("family")
    for row in rows:
        table.add_row(row["name"], f"{row['params'] / 1e6:.2f}M", f"{row['gflops']:.3f}", row["attention"], row["family"])
    report_console().print(table)
