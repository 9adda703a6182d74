#!/usr/bin/env python3
"""PyTorch side of bench/explain.ts: torchvision's GoogLeNet (1000 classes, eval mode, channels-last,
float32) on one 224x224 picture: the forward pass under no_grad, and Grad-CAM the usual way (a forward
hook keeps the tap's output, torch.autograd.grad differentiates the top logit back to it, alpha = its
spatial mean, map = ReLU(sum alpha*A)). Prints one JSON object: per case, the median seconds and all
timings.

  python3 bench/explain_torch.py --threads 2 --reps 10 --layers inception5b,inception4c,inception3a
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torchvision.models import googlenet


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=10)
    ap.add_argument('--layers', default='inception5b,inception4c,inception3a')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = googlenet(weights=None, aux_logits=False, init_weights=True).eval().to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 224, 224).contiguous(memory_format=torch.channels_last)

    def forward():
        with torch.no_grad():
            model(x)

    def grad_cam(layer):
        kept = {}

        def keep(_m, _i, out):
            # The weights are frozen and the input needs no gradient: start the graph at the tap.
            out.requires_grad_(True)
            kept['a'] = out

        hook = getattr(model, layer).register_forward_hook(keep)
        try:
            logits = model(x)
        finally:
            hook.remove()
        a = kept['a']
        c = logits.argmax(1)
        (g,) = torch.autograd.grad(logits.gather(1, c[:, None]).sum(), a)
        return F.relu((g.mean((2, 3), keepdim=True) * a).sum(1))

    cases = {'forward': forward}
    for layer in args.layers.split(','):
        cases[f'gradcam_{layer}'] = lambda layer=layer: grad_cam(layer)
    times = {k: [] for k in cases}
    for f in cases.values():
        f()  # warm-up
    for _ in range(args.reps):  # rounds alternate the cases
        for k, f in cases.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    print(json.dumps({k: {'median_s': statistics.median(v), 'times_s': v} for k, v in times.items()}))


if __name__ == '__main__':
    main()
