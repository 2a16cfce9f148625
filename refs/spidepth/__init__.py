"""SPIdepth: U-Net over a timm ConvNeXtV2 encoder and the query-transformer depth decoder (issue: SPIdepth depth)."""
