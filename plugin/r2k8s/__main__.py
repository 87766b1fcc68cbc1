"""Allow ``python -m r2k8s``."""

from r2k8s.cli import main

raise SystemExit(main())
