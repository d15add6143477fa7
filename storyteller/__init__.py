"""Video Storyteller: turns batches of videos into short, grounded, news-style stories."""

__version__ = "0.1.0"
