"""The speed benchmark's operation counts, against counts made by hand."""

import importlib.util
from pathlib import Path

from torch import nn

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_mimii.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_mimii", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_forward_macs_count_convolutions_and_linear_layers_by_hand():
    bench = _bench()
    model = nn.Sequential(
        nn.Conv2d(2, 4, (3, 3), stride=2, padding=1),  # 2, 513, 64 -> 4, 257, 32
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 5),
    )
    conv = 4 * 257 * 32 * (2 * 3 * 3)  # outputs x multiply-adds per output
    assert bench.forward_macs(model) == conv + 4 * 5


def test_conv_calls_record_each_convolution_with_its_shapes():
    bench = _bench()
    model = nn.Sequential(
        nn.Conv2d(2, 6, (5, 3), stride=(2, 1), padding=(2, 1)),  # -> 6, 257, 64
        nn.Conv2d(6, 6, (3, 3), stride=2, padding=1, groups=3),  # -> 6, 129, 32
    )
    calls = bench.conv_calls(model, batch=2)
    assert [c["input"] for c in calls] == [(2, 2, 513, 64), (2, 6, 257, 64)]
    assert [c["weight"] for c in calls] == [(6, 2, 5, 3), (6, 2, 3, 3)]
    assert calls[0]["macs"] == 2 * 6 * 257 * 64 * (2 * 5 * 3)
    assert calls[1]["macs"] == 2 * 6 * 129 * 32 * (2 * 3 * 3)  # 2 input channels per group
