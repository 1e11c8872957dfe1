"""Checkpoint formats: the hosted index, the downloader, tfjs readers and conversion to ONNX."""
