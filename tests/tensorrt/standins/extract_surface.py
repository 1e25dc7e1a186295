"""Regenerate ``api_surface.json`` from the project's TensorRT API survey.

The survey (tensorrt-api-surface.json, read from NVIDIA's pybind11 sources for TensorRT 8.5,
8.6, 10.3, 10.16, 11.0, 11.1 and from cuda-python 12/13 wheels) is reduced to what the stand-ins
need: every enum with its members and values, every class with its methods and properties
(inherited included) and the module-level names. Run:

    python tests/tensorrt/standins/extract_surface.py /path/to/tensorrt-api-surface.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def reduce(survey: dict) -> dict:
    out: dict = {"generations": {}, "cuda_python": {}}
    for gen, g in survey["generations"].items():
        classes = {}
        for group in ("classes", "other_classes"):
            for name, c in g[group].items():
                classes[name] = {
                    "methods": sorted(set(c.get("methods_including_inherited") or c["methods"])),
                    "properties": {
                        p: c.get("property_access", {}).get(p, "rw")
                        for p in sorted(set(c.get("properties_including_inherited") or c["properties"]))
                    },
                    "constructible": bool(c.get("constructible")),
                    "bases": c.get("bases") or [],
                }
        out["generations"][gen] = {
            "version": g["NvInferVersion.h"],
            "enums": g["enum_values"],
            "classes": classes,
            "module": g["module"],
        }
    cp = survey["cuda_python"]
    out["cuda_python"] = {
        "runtime_functions": cp["runtime_functions_checked"],
        "module_paths": cp["module_paths"],
    }
    return out


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/docs/tensorrt-api-surface.json")
    data = reduce(json.loads(src.read_text()))
    dest = Path(__file__).with_name("api_surface.json")
    dest.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {dest} ({dest.stat().st_size} bytes)")
