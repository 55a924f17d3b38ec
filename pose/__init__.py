"""poserepro: regenerate the tables of top-down human pose estimation papers."""

__version__ = "0.1.0"
