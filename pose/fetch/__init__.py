"""Fetching the real data: COCO, person detections, ImageNet checkpoints and MPII.

Each source of params/sources.yaml becomes one folder (`out`), made whole or not at all:
download (resumable, retried) -> checksum -> unpack into a staging folder -> layout check ->
atomic rename. A re-run verifies what is there and downloads nothing.
"""
