"""Neural networks: the self-supervised complex network of Kim, Ho and Kang (EUSIPCO 2021).

* :mod:`audioanom.machines.nn.complex` -- complex layers on stacked real tensors
  ``(B, 2C, F, T)``.
* :mod:`audioanom.machines.nn.model` -- :class:`ComplexNet`, its :class:`ComplexNetConfig`, the
  attention fusions and the ArcFace head.
* :mod:`audioanom.machines.nn.magnitude` -- :class:`MagnitudeNet`, the real-valued magnitude-only
  ablation.
"""

from .complex import (
    ComplexBatchNorm2d,
    ComplexConv2d,
    ComplexConvBlock,
    ComplexPReLU,
    abs2,
    from_stacked,
    same_padding,
    split_parts,
    to_stacked,
)
from .magnitude import MagnitudeNet, real_channels
from .model import (
    ATTENTION_MODES,
    POOLING_MODES,
    ArcMarginHead,
    BranchAttention,
    ChannelSoftmaxAttention,
    ComplexNet,
    ComplexNetConfig,
    NetOutput,
    anomaly_scores,
    complex_to_input,
    count_parameters,
    stft_input,
)

__all__ = [
    "ATTENTION_MODES",
    "POOLING_MODES",
    "ArcMarginHead",
    "BranchAttention",
    "ChannelSoftmaxAttention",
    "ComplexBatchNorm2d",
    "ComplexConv2d",
    "ComplexConvBlock",
    "ComplexNet",
    "ComplexNetConfig",
    "ComplexPReLU",
    "MagnitudeNet",
    "NetOutput",
    "abs2",
    "anomaly_scores",
    "complex_to_input",
    "count_parameters",
    "from_stacked",
    "real_channels",
    "same_padding",
    "split_parts",
    "stft_input",
    "to_stacked",
]
