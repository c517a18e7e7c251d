"""seqlab: measure how far back recurrent networks remember, on the palindrome task."""

__version__ = "0.1.0"
