import sys

from logolens.cli.main import main

sys.exit(main())
