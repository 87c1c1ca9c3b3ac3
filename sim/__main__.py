"""`python -m sim` is the `teachersim` command."""

from sim.cli import entry

entry()
