import sys

from edgepilot.cli import main

sys.exit(main())
