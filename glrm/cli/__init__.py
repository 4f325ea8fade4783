"""Thin Typer commands. Nothing imports this package; heavy imports happen inside commands."""
