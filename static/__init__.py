"""The browser code and pages, shipped inside the wheel as ``renderer.static``."""
