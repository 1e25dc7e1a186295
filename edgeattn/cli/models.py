"""List the model zoo: name, parameters, GFLOPs (multiply-adds at 224x224) and attention type.

GFLOPs follow the SENet/CBAM papers: multiply-adds of the conv and linear layers, in billions.
"""

from typing import Optional

import typer
from typing_extensions import Annotated

from ._errors import echo_json
from ._options import Attention, JsonOpt, value


def command(
    json_output: JsonOpt = False,
    attention: Annotated[
        Optional[Attention], typer.Option("--attention", "-a", help="Only models with this attention.", show_default=False)
    ] = None,
) -> None:
    from ..models.zoo import zoo_table

    attention = value(attention)
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
