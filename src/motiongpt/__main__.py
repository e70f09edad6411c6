import sys

from motiongpt.cli import main

sys.exit(main())
