"""The seed classifier's recipe in PyTorch on the CPU, as a peer of examples/seed_classifier:
an LSTM of 128 over the 28 rows of each 28x28 image (pixels / 255), a dense layer of 10 on the
last step's output, softmax cross-entropy, Adam (lr 1e-3), batches of 128 in a shuffled order,
float32. Prints the training samples per second of one pass over the first --limit images, the
figure seed_classifier prints for the same pass.

    python bench/torch_seed_classifier.py [--data DIR] [--limit N] [--threads N]
"""

import argparse
import gzip
import os
import struct
import sys
import time


def read_images(path, limit):
    with gzip.open(path, "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise SystemExit(f"{path}: not an IDX image file (magic {magic})")
        count = min(count, limit)
        return count, rows, cols, f.read(count * rows * cols)


def read_labels(path, limit):
    with gzip.open(path, "rb") as f:
        magic, count = struct.unpack(">II", f.read(8))
        if magic != 2049:
            raise SystemExit(f"{path}: not an IDX label file (magic {magic})")
        return f.read(min(count, limit))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--limit", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("torch_seed_classifier.py: torch is not importable here; no PyTorch peer")
        return 77
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    n, rows, cols, pixels = read_images(
        os.path.join(args.data, "train-images-idx3-ubyte.gz"), args.limit
    )
    labels = read_labels(os.path.join(args.data, "train-labels-idx1-ubyte.gz"), args.limit)
    images = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).float().div_(255.0)
    images = images.view(n, rows, cols)
    targets = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()

    lstm = torch.nn.LSTM(cols, 128, batch_first=True)
    dense = torch.nn.Linear(128, 10)
    optimizer = torch.optim.Adam(list(lstm.parameters()) + list(dense.parameters()), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(n)
    start = time.perf_counter()
    for first in range(0, n, args.batch):
        batch = order[first : first + args.batch]
        y, _ = lstm(images[batch])
        loss = loss_fn(dense(y[:, -1, :]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    print(
        f"torch {torch.__version__}, {args.threads} threads: {n} images in {seconds:.2f} s, "
        f"{n / seconds:.0f} samples/s (last loss {loss.item():.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
