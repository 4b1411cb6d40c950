"""A ``landslide-monitor run`` child with the operations tests' stand-ins installed (the slow
source when ``OPS_SLOW_MARKER`` is set). Arguments: the run command's arguments."""

import sys

from monitor.cli import main
from tests.ops import ops_stand_ins

if __name__ == "__main__":
    ops_stand_ins.install()
    sys.exit(main(["run", *sys.argv[1:]]))
