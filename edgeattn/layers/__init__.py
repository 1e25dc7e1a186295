"""Attention blocks as defined in the SENet (Hu et al. 2018) and CBAM (Woo et al. 2018) papers."""

from .cbam import CBAM, ChannelAttention, SpatialAttention
from .excitation import ExcitationMLP
from .squeeze_excite import SqueezeExcite

__all__ = ["CBAM", "ChannelAttention", "ExcitationMLP", "SpatialAttention", "SqueezeExcite"]
