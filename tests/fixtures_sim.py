"""Pytest fixtures for the simulated cluster (filled in by the sim work)."""
