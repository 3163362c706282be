"""Where the gazelab checkout lies: its root holds solutions/, tutorials/, benchmarks/ and runs/.

In an installed copy outside a checkout these folders do not exist; code that reads them says so (the demo draws
no committed evidence, the authoring tools stop with a message).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Root of the checkout (the folder that holds the ``gazelab`` package)."""
