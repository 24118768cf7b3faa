"""Tests of audioanom.machines."""
