import pytest
import torch

from seqlab.bench import PalindromeDataset
from seqlab.data.palindrome import heldout_set, palindrome_batch
from seqlab.data.streams import EVAL_STREAM, TRAIN_STREAM, stream_generator
from seqlab.models.base import encode


@pytest.mark.parametrize("length", [2, 3, 4, 7, 10, 11])
def test_batches_are_palindromes_whose_last_digit_is_the_target(length):
    inputs, targets = palindrome_batch(length, 256, stream_generator(0, TRAIN_STREAM))
    full = torch.cat([inputs, targets[:, None]], dim=1)
    assert inputs.shape == (256, length - 1) and targets.shape == (256,)
    assert inputs.dtype == torch.int64
    assert torch.equal(full, full.flip(1))
    assert torch.equal(targets, inputs[:, 0])
    assert full.min() >= 0 and full.max() <= 9


def test_first_half_is_uniform_over_digits():
    inputs, _ = palindrome_batch(9, 20000, stream_generator(1, TRAIN_STREAM))
    counts = torch.bincount(inputs[:, :5].flatten(), minlength=10).float()
    assert (counts / counts.sum() - 0.1).abs().max() < 0.01


def test_streams_are_seeded_and_separate():
    a = palindrome_batch(10, 64, stream_generator(3, TRAIN_STREAM))[0]
    b = palindrome_batch(10, 64, stream_generator(3, TRAIN_STREAM))[0]
    other_seed = palindrome_batch(10, 64, stream_generator(4, TRAIN_STREAM))[0]
    heldout = heldout_set(10, 64, 1, seed=3)[0][0]
    assert torch.equal(a, b)
    assert not torch.equal(a, other_seed)
    assert not torch.equal(a, heldout)
    assert torch.equal(heldout, palindrome_batch(10, 64, stream_generator(3, EVAL_STREAM))[0])


def test_seed_zero_is_a_seed():
    assert torch.equal(heldout_set(6, 8, 2, seed=0)[1][0], heldout_set(6, 8, 2, seed=0)[1][0])


@pytest.mark.parametrize("length", [5, 6])
def test_per_sample_dataset_makes_palindromes(length):
    dataset = PalindromeDataset(length, size=50, seed=0)
    for i in range(len(dataset)):
        inputs, target = dataset[i]
        full = torch.cat([inputs, target[None]])
        assert inputs.shape == (length - 1,) and torch.equal(full, full.flip(0))


def test_encodings():
    digits = torch.tensor([[0, 3, 9]])
    onehot = encode(digits, "onehot", 10)
    assert onehot.shape == (1, 3, 10) and torch.equal(onehot.argmax(-1), digits) and torch.all(onehot.sum(-1) == 1)
    scalar = encode(digits, "scalar", 10)
    assert scalar.shape == (1, 3, 1) and torch.equal(scalar[..., 0], digits.float())
