"""Neural networks: the self-supervised complex network of Kim, Ho and Kang (EUSIPCO 2021).

* :mod:`audioanom.machines.nn.complex` -- complex layers on stacked real tensors
  ``(B, 2C, F, T)``.
* :mod:`audioanom.machines.nn.model` -- :class:`ComplexNet`, its :class:`ComplexNetConfig`, the
  attention fusions and the ArcFace head.
* :mod:`audioanom.machines.nn.magnitude` -- :class:`MagnitudeNet`, the real-valued magnitude-only
  ablation.
"""

from . import complex as _complex
from . import magnitude as _magnitude
from . import model as _model
from .complex import (
    CONV_METHODS,
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
from .magnitude import LOG_FLOOR, MagnitudeNet, real_channels
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
    real_block,
    stft_input,
)

#: every public name of the three modules
__all__ = sorted({*_complex.__all__, *_magnitude.__all__, *_model.__all__})
