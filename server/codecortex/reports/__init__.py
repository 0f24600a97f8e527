"""What CodeCortex did for a developer: success metrics, achievements, stats and the HTML report."""
