"""Fake provider servers and recorded wire-format fixtures for the capture tests."""
