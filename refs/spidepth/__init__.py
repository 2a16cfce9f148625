"""SPIdepth: U-Net over a timm ConvNeXtV2 encoder and the query-transformer depth decoder.

Our own implementation; parameter names are the official checkpoint keys.
"""

from refs.spidepth.model import SPIdepth, load_spidepth

__all__ = ["SPIdepth", "load_spidepth"]
