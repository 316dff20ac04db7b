"""examples/ddp_train.py: rnnx.torch.LSTM under DistributedDataParallel, 2 processes, gloo."""

import os
import socket
import sys
import time

import pytest

torch = pytest.importorskip("torch")
import torch.distributed  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import ddp_train  # noqa: E402

ARGV = ["--synthetic", "--steps", "3", "--batch", "8", "--hidden", "8", "--float64"]
ARGV += ["--engine", "cpu", "--lr", "0.1"]


def _worker(rank, world, port, result):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    ddp_train.train(rank, world, ddp_train.parse_args(ARGV), result=result)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_ddp_two_processes_match_one(tmp_path):
    result = str(tmp_path / "params")
    ctx = torch.multiprocessing.spawn(
        _worker, args=(2, free_port(), result), nprocs=2, join=False
    )
    deadline = time.time() + 240
    while not ctx.join(timeout=5):
        if time.time() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the DDP processes did not finish in 240 s")
    ranks = [torch.load(f"{result}.{r}") for r in range(2)]
    # One process on the whole batch of each step.
    alone = ddp_train.train(0, 1, ddp_train.parse_args(ARGV), ddp=False).state_dict()
    torch.manual_seed(0)  # the parameters the training started from
    initial = ddp_train.Classifier(8, torch.float64)
    assert set(ranks[0]) == set(alone) and len(alone) == 6
    for name in alone:
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        assert torch.allclose(ranks[0][name], alone[name], rtol=0, atol=1e-12), name
        assert not torch.equal(ranks[0][name], initial.state_dict()[name]), name
