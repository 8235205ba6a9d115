"""Synthetic people rendered into the real raw formats of Market-1501, PA-100K and UPAR."""
