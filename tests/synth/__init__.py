"""Tests of audioanom.synth."""
