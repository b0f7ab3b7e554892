"""The local stack tool (``python -m stack up``) and the process helpers tests and benchmarks share."""
