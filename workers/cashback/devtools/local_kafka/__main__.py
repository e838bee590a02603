"""``python -m cashback.devtools.local_kafka``: see :mod:`cashback.devtools.local_kafka.cli`."""

import sys

from cashback.devtools.local_kafka.cli import main

sys.exit(main())
