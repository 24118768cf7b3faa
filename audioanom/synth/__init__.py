"""Deterministic synthetic data sets that run the notebooks with nothing downloaded.

:mod:`audioanom.synth.machines`: machine sounds in the DCASE 2020 Task 2 layout, with the kind
and severity of every anomaly.
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
