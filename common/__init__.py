"""Logo-ANN: find logos in product photos and search them by visual similarity.

The package is the library every cloud function and the CLI share: domain types and
use cases, one port per role, and the adapters (embedded and cloud) behind them.
"""

__version__ = "0.1.0"
