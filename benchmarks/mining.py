"""How long triplet mining and the whole contrastive update take at realistic buffer sizes (CPU numbers).

For each buffer size N: fill a ContrastiveBuffer with random non-negative feature maps (like post-ReLU CNN
output) and random returns, then time ``mine_triplets`` for ``--anchors`` anchors (median of ``--repeats``),
and, with ``--update``, one full ``ContrastiveLearner.update`` (mine + gaze on 3 x triplets + backward + Adam).

    python benchmarks/mining.py                       # 20k, 100k, 200k
    python benchmarks/mining.py --sizes 100000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from tqdm.auto import tqdm

from gazelab.method.attention import GaussianGaze
from gazelab.method.buffer import ContrastiveBuffer
from gazelab.method.contrastive import ContrastiveConfig, ContrastiveLearner, mine_triplets
from gazelab.method.encoders import FineNatureCNN


def fill(buffer: ContrastiveBuffer, size: int, chunk: int = 5_000, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for start in tqdm(range(0, size, chunk), desc=f"fill {size}", leave=False):
        b = min(chunk, size - start)
        buffer.add(torch.rand(b, *buffer.feature_shape, generator=generator), torch.randn(b, generator=generator))


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, FAISS thread pool)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 200_000], help="buffer sizes N")
    parser.add_argument("--anchors", type=int, default=512, help="anchors per mining call")
    parser.add_argument("--k", type=int, default=16, help="neighbours per anchor")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--image-size", type=int, default=64, help="image size giving the FineNatureCNN map")
    parser.add_argument("--no-update", dest="update", action="store_false", help="skip the full update timing")
    parser.add_argument("--threads", type=int, default=None, help="torch and FAISS threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    encoder = FineNatureCNN(image_size=args.image_size)
    shape = (encoder.out_channels, *encoder.map_size)
    print(f"feature map {shape} (FineNatureCNN at {args.image_size}x{args.image_size}), keys 64-d, "
          f"{args.anchors} anchors, k={args.k}, torch (= FAISS) threads {torch.get_num_threads()}")
    print(f"{'N':>8} {'mine [s]':>9} {'triplets':>9} {'update [s]':>11}")
    for size in args.sizes:
        buffer = ContrastiveBuffer(shape, capacity=size)
        fill(buffer, size)
        _, returns, keys = buffer.filled()
        generator = torch.Generator().manual_seed(0)
        mined = mine_triplets(keys, returns, args.k, num_anchors=args.anchors, generator=generator)
        mine_s = median_time(
            lambda: mine_triplets(keys, returns, args.k, num_anchors=args.anchors, generator=generator), args.repeats
        )
        update_s = float("nan")
        if args.update:
            learner = ContrastiveLearner(
                GaussianGaze(shape[0]), ContrastiveConfig(num_anchors=args.anchors, k=args.k)
            )
            update_s = median_time(lambda: learner.update(buffer), args.repeats)
        print(f"{size:>8} {mine_s:>9.4f} {len(mined[0]):>9} {update_s:>11.4f}")
        del buffer


if __name__ == "__main__":
    main()
