"""Readers and writers for the raw dataset formats (Market-1501, PA-100K, UPAR).

Pure library code: nothing here knows about Kedro.
"""
