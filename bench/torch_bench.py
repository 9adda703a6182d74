#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: the same networks, thread count and batch sizes as bench/run.ts.

- torchvision preset: torchvision.models.googlenet (1000 classes, no aux heads, eval mode).
- cifar and bn presets: a small module below that mirrors googlenet-ts's architecture table
  (src/models/googlenet.ts): BasicConv2d = conv (no bias) + BN(eps 1e-3) + ReLU, Inception with a
  5x5 third branch, ceil-mode max pools, global average pool, dropout, fc; the cifar stem is one
  3x3 conv to 192 channels.

Every model runs channels-last (PyTorch's faster CPU layout here) in float32. Prints one JSON
object on its last line: per case, the median seconds per iteration, all timings, and peak RSS;
with --profile N (training cases), also the step's self CPU time per operation category under
torch.profiler (the faster of N profiled steps), in the categories of bench/profile.ts.

  python3 bench/torch_bench.py --threads 2 --cases infer_b1,infer_b16,train_cifar,train_bn224 \
      [--reps 5] [--warmup 1] [--export-onnx PATH]
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

INCEPTION = [  # name, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj (the paper's Table 1)
    ('inception3a', 64, 96, 128, 16, 32, 32),
    ('inception3b', 128, 128, 192, 32, 96, 64),
    ('inception4a', 192, 96, 208, 16, 48, 64),
    ('inception4b', 160, 112, 224, 24, 64, 64),
    ('inception4c', 128, 128, 256, 24, 64, 64),
    ('inception4d', 112, 144, 288, 32, 64, 64),
    ('inception4e', 256, 160, 320, 32, 128, 128),
    ('inception5a', 256, 160, 320, 32, 128, 128),
    ('inception5b', 384, 192, 384, 48, 128, 128),
]


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp, k5=5):
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, kernel_size=1), BasicConv2d(c3r, c3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, kernel_size=1), BasicConv2d(c5r, c5, kernel_size=k5, padding=k5 // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(cin, pp, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNetTS(nn.Module):
    """googlenet-ts's 'cifar' and 'bn' presets (no aux heads, as their defaults)."""

    def __init__(self, stem='cifar', num_classes=10, dropout=0.4):
        super().__init__()
        if stem == 'cifar':
            self.stem = BasicConv2d(3, 192, kernel_size=3, padding=1)
        else:
            self.stem = nn.Sequential(
                BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3), nn.MaxPool2d(3, 2, ceil_mode=True),
                BasicConv2d(64, 64, kernel_size=1), BasicConv2d(64, 192, kernel_size=3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True))
        layers, cin = [], 192
        for name, c1, c3r, c3, c5r, c5, pp in INCEPTION:
            if name == 'inception4a':
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            if name == 'inception5a':
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            layers.append(Inception(cin, c1, c3r, c3, c5r, c5, pp))
            cin = c1 + c3 + c5 + pp
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.body(self.stem(x)), 1).flatten(1)
        return self.fc(self.dropout(x))


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timeit(fn, reps, warmup, sync=lambda: None):
    for _ in range(warmup):
        fn()
    sync()
    times, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        sync()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {'median_s': statistics.median(times), 'times_s': times, 'cpu_s': cpu}


# aten ops by the category bench/profile.ts gives our ONNX nodes. Anything under the optimizer's
# step is 'optimizer'; autograd's accumulation of gradients from several readers is 'gradient sums'.
CATEGORY_OPS = [
    ('conv backward', ('convolution_backward',)),
    ('conv forward', ('convolution', 'mkldnn_convolution', 'conv2d')),
    ('max pool', ('max_pool2d',)),
    ('batch norm', ('batch_norm',)),
    ('relu', ('relu', 'threshold_backward', 'clamp_min')),
    ('concat / split', ('aten::cat', 'aten::narrow', 'aten::slice', 'aten::split')),
    ('gradient sums', ('aten::add',)),
]


def op_category(name, under_optimizer):
    if under_optimizer:
        return 'optimizer'
    for cat, keys in CATEGORY_OPS:
        if any(k in name for k in keys):
            return cat
    return 'other'


def profile_step(step, n):
    """Self CPU milliseconds per category of one step: the faster of n profiled steps."""
    from torch.profiler import profile, ProfilerActivity
    best = None
    for _ in range(n):
        t = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as p:
            step()
        wall = time.perf_counter() - t
        ms = {}
        for e in p.events():
            under, q = False, e
            while q is not None:
                if q.name.startswith('Optimizer.step'):
                    under = True
                    break
                q = q.cpu_parent
            c = op_category(e.name, under)
            ms[c] = ms.get(c, 0.0) + e.self_cpu_time_total / 1000
        total = sum(ms.values())
        if best is None or total < best['total_ms']:
            best = {'ms': ms, 'total_ms': total, 'step_ms': wall * 1000}
    return best


def torchvision_googlenet():
    import torchvision
    m = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    return m.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--cases', default='infer_b1,infer_b16,train_cifar')
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--train-reps', type=int, default=3)
    ap.add_argument('--profile', type=int, default=0, help='training cases: profile this many extra steps (torch.profiler)')
    ap.add_argument('--export-onnx', default=None, help='write torch.onnx.export of the torchvision model (batch 16) here')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'],
                    help='cuda: the GPU in strict float32 (TF32 off, as ONNX Runtime computes), timed to torch.cuda.synchronize()')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize()) if a.device == 'cuda' else (lambda: None)
    if a.device == 'cuda':
        if not torch.cuda.is_available():
            print('--device cuda: torch.cuda.is_available() is False', file=sys.stderr)
            sys.exit(2)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    out = {'torch': torch.__version__, 'threads': a.threads, 'layout': 'channels_last', 'device': a.device, 'cases': {}}
    if a.device == 'cuda':
        out['gpu'] = torch.cuda.get_device_name(0)
    cases = [c for c in a.cases.split(',') if c]

    if a.export_onnx:
        m = torchvision_googlenet()
        torch.onnx.export(m, torch.randn(16, 3, 224, 224), a.export_onnx, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}}, opset_version=13)
        out['onnx'] = a.export_onnx

    for case in cases:
        if case.startswith('infer_b'):
            n = int(case[len('infer_b'):])
            m = torchvision_googlenet().to(dev, memory_format=torch.channels_last)
            x = torch.randn(n, 3, 224, 224, device=dev).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                r = timeit(lambda: m(x), a.reps if n > 1 else 4 * a.reps, a.warmup, sync)
            r['batch'] = n
        elif case in ('train_cifar', 'train_bn224'):
            cifar = case == 'train_cifar'
            n, size = (64, 32) if cifar else (16, 224)
            m = GoogLeNetTS('cifar' if cifar else 'imagenet', 10 if cifar else 1000).to(dev, memory_format=torch.channels_last).train()
            opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
            x = torch.randn(n, 3, size, size, device=dev).contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, 10 if cifar else 1000, (n,), device=dev)

            def step():
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(m(x), y)
                loss.backward()
                opt.step()
            r = timeit(step, a.train_reps, a.warmup, sync)
            r['batch'] = n
            if a.profile and a.device == 'cpu':
                r['peak_rss_mib'] = peak_rss_mib()  # before the profiler's own allocations
                r['profile'] = profile_step(step, a.profile)
        else:
            print(f'unknown case {case}', file=sys.stderr)
            sys.exit(2)
        r.setdefault('peak_rss_mib', peak_rss_mib())
        if a.device == 'cuda':
            r['peak_gpu_mib'] = torch.cuda.max_memory_allocated() / 2**20
        out['cases'][case] = r
        print(f'{case}: {r["median_s"] * 1000:.1f} ms/iter ({r["batch"] / r["median_s"]:.1f} img/s)', file=sys.stderr)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
