"""audioanom: anomaly detection on audio, as a notebook series on a small tested library."""

__version__ = "0.1.0"
