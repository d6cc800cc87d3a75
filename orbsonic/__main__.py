"""`python -m orbsonic ...` is the `orbsonic` command."""

import sys

from orbsonic.cli import main

sys.exit(main())
