"""Neural networks: the self-supervised complex network of Kim, Ho and Kang (EUSIPCO 2021).

* :mod:`audioanom.nn.complex` -- complex layers on stacked real tensors ``(B, 2C, F, T)``.
* :mod:`audioanom.nn.attention` -- residual softmax channel attention.
* :mod:`audioanom.nn.model` -- :class:`ComplexNet` and its :class:`ComplexNetConfig`.
"""

from .attention import ChannelAttention
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
from .model import (
    ComplexNet,
    ComplexNetConfig,
    ComplexNetOutput,
    anomaly_scores,
    autocast_bf16,
    complex_to_input,
    count_parameters,
    fast_bf16_available,
    scoring_logits,
    split_windows,
    stft_input,
    window_starts,
)

__all__ = [
    "ChannelAttention",
    "ComplexBatchNorm2d",
    "ComplexConv2d",
    "ComplexConvBlock",
    "ComplexNet",
    "ComplexNetConfig",
    "ComplexNetOutput",
    "ComplexPReLU",
    "abs2",
    "anomaly_scores",
    "autocast_bf16",
    "complex_to_input",
    "count_parameters",
    "fast_bf16_available",
    "from_stacked",
    "same_padding",
    "scoring_logits",
    "split_parts",
    "split_windows",
    "stft_input",
    "to_stacked",
    "window_starts",
]
