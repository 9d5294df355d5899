"""`python -m hwsim.cli ARGS` runs the `hwsim` command."""
import sys

from hwsim.cli import main

sys.exit(main())
