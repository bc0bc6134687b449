"""benchmarks.metrics.fitting: the shared classifier-training loop's batch order and its fit."""

import torch
from torch import nn

from benchmarks.metrics.fitting import fit_cross_entropy


class _RecordingLinear(nn.Linear):
    """A linear map that records, in training mode, the row ids (input column 0) of each batch."""

    def __init__(self):
        super().__init__(2, 2)
        self.batches: list[list[int]] = []

    def forward(self, x):
        if self.training:
            self.batches.append(x[:, 0].long().tolist())
        return super().forward(x)


def test_batches_are_successive_slices_of_fresh_permutations_from_the_generator():
    n, batch_size, steps = 10, 4, 7  # epochs of 3 batches (4, 4, 2 rows): 2 epochs and 1 batch
    inputs = torch.stack([torch.arange(n, dtype=torch.float32), torch.zeros(n)], 1)
    model = _RecordingLinear()
    state = torch.random.get_rng_state()
    fitted = fit_cross_entropy(model, inputs, torch.zeros(n, dtype=torch.long), steps=steps,
                               generator=torch.Generator().manual_seed(5), batch_size=batch_size)
    assert fitted is model and not model.training
    assert torch.equal(torch.random.get_rng_state(), state)
    reference = torch.Generator().manual_seed(5)
    first, second, third = (torch.randperm(n, generator=reference).tolist() for _ in range(3))
    expected = [first[0:4], first[4:8], first[8:10], second[0:4], second[4:8], second[8:10], third[0:4]]
    assert model.batches == expected


def test_adam_steps_decrease_the_cross_entropy_to_separate_two_clusters():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    x = torch.randn(200, 2, generator=gen) * 0.3 + torch.stack([2.0 * y - 1, torch.zeros(200)], 1)
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    before = nn.functional.cross_entropy(model(x), y).item()
    fit_cross_entropy(model, x, y, steps=300, generator=gen, lr=1e-2, batch_size=32)
    with torch.no_grad():
        after = nn.functional.cross_entropy(model(x), y).item()
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert after < 0.2 * before and accuracy == 1.0
