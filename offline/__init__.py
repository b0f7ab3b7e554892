"""Offline tooling, outside the serving package: model files (fetching, stand-ins, the 8-bit
wrapper) and generated sample photos. The functions and the API never import it."""
