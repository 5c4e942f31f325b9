"""`python -m tokentrail` runs the command line."""

import sys

from tokentrail.cli import main

sys.exit(main())
