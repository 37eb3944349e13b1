"""ZUGABE: GIS cooperation module for cities, water boards and utilities."""

__version__ = "0.1.0"
