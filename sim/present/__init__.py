"""Presentation layer: figures, summaries, the HTML report and the interactive app."""
