"""``python -m monitor``: the same command line as ``landslide-monitor``."""

import sys

from monitor.cli import main

sys.exit(main())
