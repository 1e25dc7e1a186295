"""Print this machine's platform (Jetson L4T/JetPack, TensorRT, CUDA runtime and driver, GPU, DLA,
ONNX Runtime providers that load) and, for each command, whether it works here and what to install.

\b
Example: edgeattn doctor --json
"""

from rich.console import Console
from rich.markup import escape

from ._errors import echo_json
from ._options import JsonOpt


def command(as_json: JsonOpt = False) -> None:
    from ..doctor import diagnose

    report = diagnose()
    if as_json:
        # echo_json: with --json the boundary sends plain stdout writes to stderr.
        echo_json(report.to_dict())
        return
    console = Console(soft_wrap=True, highlight=False)
    p = report.platform
    console.print(f"platform     {p['system']} {p['machine']}, Python {p['python']}")
    if report.jetson:
        j = report.jetson
        console.print(
            f"jetson       L4T {j.get('l4t_release')} (JetPack {j.get('jetpack') or '?'}), power mode "
            f"{j.get('nvpmodel_mode')}, clocks {'locked' if j.get('clocks_locked') else 'not locked'}"
        )
    t = report.tensorrt
    console.print("tensorrt     " + (f"{t['version']}" + (f", {t['dla_cores']} DLA core(s)" if t.get("dla_cores") else "") if t.get("installed") else escape(str(t.get("reason")))))
    c = report.cuda
    if c.get("library"):
        gpu = f", {c.get('gpu_name')} (compute {c.get('compute_capability')})" if c.get("devices") else f", no device ({c.get('reason')})"
        console.print(f"cuda         runtime {c.get('cuda_runtime')}, driver {c.get('cuda_driver') or '-'}{escape(gpu)}  ({escape(c['library'])})")
    else:
        console.print("cuda         libcudart not found")
    o = report.onnxruntime
    if o.get("installed"):
        console.print(f"onnxruntime  {o.get('version')}: providers that load: {', '.join(o.get('loading_providers') or []) or '-'}")
    else:
        console.print("onnxruntime  not installed")
    console.print(f"torch        {report.torch.get('version') or 'not installed'}")
    console.print()
    for check in report.commands:
        mark = "[green]ok[/]  " if check.works else "[red]no[/]  "
        line = f"{mark} {check.command:<9} {escape(check.detail)}"
        if check.install:
            line += f"  -> {escape(check.install)}"
        console.print(line)
    for problem in report.problems:
        console.print(f"[yellow]Warning:[/] {escape(problem)}")
