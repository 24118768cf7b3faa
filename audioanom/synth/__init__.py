"""Deterministic synthetic data sets that run the notebooks with nothing downloaded.

:mod:`audioanom.synth.machines`: machine sounds in the DCASE 2020 Task 2 layout, with the kind
and severity of every anomaly, built from :mod:`~audioanom.synth.machine_params` (types, kinds,
the parameters of each ID) and :mod:`~audioanom.synth.machine_sources` (the physical models).

:mod:`audioanom.synth.speech`: spoken digits in the AudioMNIST layout (the word "six" and
anomalous takes), built from :mod:`~audioanom.synth.espeak` (the espeak-ng binding) and
:mod:`~audioanom.synth.corruptions` (the recording faults).

:mod:`audioanom.synth.signal_blocks`: the float32 signal building blocks both share.
"""

from .machines import (
    ANOMALY_KINDS,
    LABEL_COLUMNS,
    MACHINE_TYPES,
    NORMAL_KIND,
    ClipSpec,
    ensure_machines,
    generate_machines,
    load_labels,
    machine_parameters,
    plan_machines,
    render_clip,
)

__all__ = [
    "ANOMALY_KINDS",
    "LABEL_COLUMNS",
    "MACHINE_TYPES",
    "NORMAL_KIND",
    "ClipSpec",
    "ensure_machines",
    "generate_machines",
    "load_labels",
    "machine_parameters",
    "plan_machines",
    "render_clip",
]
