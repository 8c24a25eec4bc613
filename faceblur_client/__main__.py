"""`python -m faceblur_client` is the `faceblur` command."""

import sys

from faceblur_client.cli import main

sys.exit(main())
