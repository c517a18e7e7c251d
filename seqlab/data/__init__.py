"""Task data: the palindrome generator, text corpora and the seeded random streams (`seqlab.tasks` builds a task)."""
