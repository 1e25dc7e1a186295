"""edgeattn: export, quantize, build, validate and benchmark SE/CBAM attention CNNs for the edge.

The public API is imported lazily so that ``import edgeattn`` (and the CLI) start fast and a
missing optional backend is reported when it is used, not at import time.
"""

from __future__ import annotations

from ._lazy import lazy_attributes

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "create_model": "edgeattn.models",
    "list_models": "edgeattn.models",
    "load_model": "edgeattn.models",
    "find_attention_blocks": "edgeattn.models.attention_scan",
    "export": "edgeattn.exporter",
    "quantize": "edgeattn.exporter.quantize",
    "build": "edgeattn.tensorrt",
    "load": "edgeattn.runtime",
    "validate": "edgeattn.validation",
    "benchmark": "edgeattn.bench",
}

__all__ = ["__version__", *_API]
__getattr__, __dir__ = lazy_attributes(__name__, _API)
