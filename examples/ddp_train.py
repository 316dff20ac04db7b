"""The seed classifier (LSTM(128) over the 28 rows of a 28x28 image -> dense -> softmax) trained
with rnnx.torch.LSTM under torch's DistributedDataParallel.

    torchrun --nproc_per_node=2 examples/ddp_train.py            # Fashion-MNIST, gloo on CPU
    torchrun --nproc_per_node=2 examples/ddp_train.py --synthetic --steps 20
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
        --nproc_per_node=1 examples/ddp_train.py                 # two machines (docs/PYTHON.md)

The backend is nccl when CUDA is available (one GPU per local rank), else gloo. Each step takes a
global batch of --batch images; rank r trains on its share, and DDP averages the gradients, so
the ranks keep identical parameters equal to one process training on the whole batch.
Fashion-MNIST comes from the IDX files in --data (gzipped or not); --synthetic uses random
images whose label is a function of the pixels.
"""

import argparse
import datetime
import gzip
import os
import time

import numpy as np
import torch
import torch.distributed as dist

import rnnx.torch as rt

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(directory, split):
    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(directory, name)):
                return os.path.join(directory, name)
        raise FileNotFoundError(f"{stem}[.gz] not in {directory} (use --synthetic)")

    prefix = "train" if split == "train" else "t10k"
    images = read_idx(find(f"{prefix}-images-idx3-ubyte")).astype(np.float32) / 255.0
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def synthetic(n, seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 28, 28, generator=g)
    labels = (images[:, :, :14].mean(dim=(1, 2)) * 40).long() % 10
    return images, labels


class Classifier(torch.nn.Module):
    def __init__(self, hidden=128, dtype=torch.float32, engine="auto"):
        super().__init__()
        self.lstm = rt.LSTM(28, hidden, batch_first=True, dtype=dtype, engine=engine)
        self.dense = torch.nn.Linear(hidden, 10, dtype=dtype)

    def forward(self, images):  # [B, 28, 28]: 28 steps of one row each
        _, (h, _) = self.lstm(images)
        return self.dense(h[-1])  # logits; the softmax is in the loss


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=DATA, help="directory of the Fashion-MNIST IDX files")
    p.add_argument("--synthetic", action="store_true", help="random data instead of --data")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: none)")
    p.add_argument("--batch", type=int, default=128, help="global batch (all ranks together)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--engine", default="auto", help="rnnx engine (auto: cpu or a GPU engine)")
    p.add_argument("--float64", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def train(rank, world, args, result=None, ddp=True):
    """Trains on this rank's share of each global batch; returns the model (unwrapped). With
    ddp=False (world must be 1) it trains alone, for comparison."""
    cuda = torch.cuda.is_available() and args.engine not in ("cpu", "cpu_reference")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if ddp:
        dist.init_process_group(
            "nccl" if cuda else "gloo",
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=120),
        )
    dtype = torch.float64 if args.float64 else torch.float32
    torch.manual_seed(args.seed)
    model = Classifier(args.hidden, dtype, args.engine).to(device)
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp else model
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    if args.synthetic:
        images, labels = synthetic(max(args.batch * max(args.steps, 1), 1024), args.seed + 1)
        test = synthetic(1024, args.seed + 2)
    else:
        images, labels = load_split(args.data, "train")
        test = load_split(args.data, "test")
    share = args.batch // world
    step, start = 0, time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(epoch))
        for first in range(0, len(images) - args.batch + 1, args.batch):
            idx = order[first + rank * share : first + (rank + 1) * share]
            x = images[idx].to(device, dtype)
            y = labels[idx].to(device)
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if rank == 0 and step % 50 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.4f}", flush=True)
            if args.steps and step >= args.steps:
                break
        if args.steps and step >= args.steps:
            break
    if rank == 0 and result is None:
        with torch.no_grad():
            x, y = test[0][:2000].to(device, dtype), test[1][:2000].to(device)
            accuracy = (model(x).argmax(1) == y).double().mean().item()
        print(f"{step} steps in {time.time() - start:.1f} s; test accuracy {accuracy:.4f}")
    if result is not None:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, f"{result}.{rank}")
    if ddp:
        dist.destroy_process_group()
    return model


def main():
    args = parse_args()
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} is not a multiple of the {world} processes")
    train(rank, world, args, ddp="RANK" in os.environ)


if __name__ == "__main__":
    main()
