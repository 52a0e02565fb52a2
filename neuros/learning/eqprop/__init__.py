"""Equilibrium propagation as a neuro service."""
