"""`python -m sim` is the `teachersim` command."""

import sys

from sim.cli import main

sys.exit(main())
