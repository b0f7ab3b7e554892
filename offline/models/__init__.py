"""Small ONNX models the project builds itself, for tests and offline demos."""
