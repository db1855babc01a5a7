"""MCD: a reference reproduction of "Answering Diverse Questions via Text Attached with Key Audio-Visual Clues"."""
__version__ = "0.1.0"
