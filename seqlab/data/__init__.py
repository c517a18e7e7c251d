"""The tasks' data: batches, held-out sets and what a target may be."""

ALL_QUERIES = "all"  # data.queries of associative recall: every key once
IGNORE = -100  # a target position that counts for neither loss nor accuracy (F.cross_entropy's ignore_index)
# Per task (data.name): the key that sets how long its sequences are (the capacity search's candidates by default).
LENGTH_KEYS = {
    "palindrome": "data.length", "text": "data.seq_length", "copy": "data.length", "recall": "data.pairs",
    "adding": "data.length",
}  # fmt: skip
