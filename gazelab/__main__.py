"""``python -m gazelab``: the ``gazelab`` command (:mod:`gazelab.cli`)."""

import sys

from gazelab.cli import main

sys.exit(main())
