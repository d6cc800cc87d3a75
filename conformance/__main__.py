"""``python -m conformance URL --user U --password P``: see ``conformance.cli``."""

import sys

from conformance.cli import main

sys.exit(main())
