"""Tests of audioanom.digits."""
