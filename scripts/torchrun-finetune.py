#!/usr/bin/env python3
"""Fine-tunes googlenet-ts weights with PyTorch's distributed engine: torchrun, DistributedDataParallel.

The hand-off past one machine (README: "Training on several machines"): `googlenet export --format
safetensors` writes the weights under torchvision's names, this script trains them on as many
processes as torchrun starts (CPUs with the gloo backend, GPUs with nccl), and `googlenet import`
(or `--model`/`--from` on the result) takes them back.

    torchrun --standalone --nproc_per_node 2 --redirects 0:1 --tee 0:1 scripts/torchrun-finetune.py \\
        --arch inception_v3 --weights exported.safetensors --data pictures/ --out tuned.safetensors

(`--redirects 0:1 --tee 0:1`: Debian's torch 1.13 on Python 3.11 fails on torchrun's default
`--redirects 0` — its Std.from_str finds no zero member, Python 3.11's flag enums skip it — so the
streams are named explicitly; rank 0's stdout is echoed with a `[default0]:` prefix.)

--data is an image folder (one sub-folder per class, sorted, as `googlenet train --dataset folder`
reads it); its class count must be the model's. Every process loads the same weights, draws its
own part of each epoch (DistributedSampler), and DDP averages the gradients, so the processes stay
identical (checked at the end). Rank 0 writes --out (safetensors, torchvision's names, the
num_batches_tracked counters included) and, with --probe FILE (a safetensors file holding an
`input` tensor), the eval-mode logits of that input before and after training into --probe-out,
so that each hop of the hand-off can be checked. Needs torch and torchvision (Debian:
python3-torch python3-torchvision), Pillow, no other package.
"""
import argparse
import json
import os
import struct

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchvision
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from torchvision import transforms

DTYPES = {'F32': (np.float32, torch.float32), 'F64': (np.float64, torch.float64), 'I64': (np.int64, torch.int64)}
NAMES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64'}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# The auxiliary losses' weights: GoogLeNet's paper (0.3 each), TF-slim's Inception v3 recipe (0.4).
AUX_WEIGHT = {'googlenet': 0.3, 'inception_v3': 0.4}


def load_safetensors(path):
    with open(path, 'rb') as f:
        b = f.read()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        if v['dtype'] not in DTYPES:
            raise SystemExit(f'{path}: tensor {k} is {v["dtype"]}; export float32 weights (googlenet export --dtype fp32)')
        s, e = v['data_offsets']
        np_type, _ = DTYPES[v['dtype']]
        out[k] = torch.from_numpy(np.frombuffer(b[8 + n + s:8 + n + e], dtype=np_type).reshape(v['shape']).copy())
    return out


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    tmp = f'{path}.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
    os.replace(tmp, path)  # atomic: a crash never leaves half a file under the name


def build(args, state):
    aux = any(k.startswith(('aux1.', 'AuxLogits.')) for k in state)
    num_classes = state['fc.weight'].shape[0]
    common = dict(weights=None, num_classes=num_classes, aux_logits=aux, transform_input=args.transform_input, init_weights=False)
    model = torchvision.models.googlenet(**common) if args.arch == 'googlenet' else torchvision.models.inception_v3(**common)
    model.load_state_dict(state, strict=True)
    return model, aux


def loss_of(out, labels, arch, aux):
    if not aux:
        return F.cross_entropy(out if isinstance(out, torch.Tensor) else out.logits, labels)
    heads = [out.aux_logits1, out.aux_logits2] if arch == 'googlenet' else [out.aux_logits]
    return F.cross_entropy(out.logits, labels) + AUX_WEIGHT[arch] * sum(F.cross_entropy(h, labels) for h in heads)


def probe_logits(model, x):
    was = model.training
    model.eval()
    with torch.no_grad():
        y = model(x)
    model.train(was)
    return y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--arch', choices=['googlenet', 'inception_v3'], required=True)
    ap.add_argument('--weights', required=True, help='safetensors with torchvision names (googlenet export --format safetensors)')
    ap.add_argument('--transform-input', action='store_true', help="torchvision's transform_input (its ImageNet weights use it)")
    ap.add_argument('--data', required=True, help='image folder, one sub-folder per class')
    ap.add_argument('--input-size', type=int, default=None, help='crop size (default 224; 299 for inception_v3)')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--batch-size', type=int, default=8, help='per process')
    ap.add_argument('--lr', type=float, default=0.01)
    ap.add_argument('--momentum', type=float, default=0.9)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', required=True)
    ap.add_argument('--probe', help='safetensors with an `input` tensor whose logits are written before and after training')
    ap.add_argument('--probe-out')
    args = ap.parse_args()

    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}') if backend == 'nccl' else torch.device('cpu')
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    torch.manual_seed(args.seed)

    state = load_safetensors(args.weights)
    model, aux = build(args, state)
    model.to(device)
    size = args.input_size or (299 if args.arch == 'inception_v3' else 224)
    data = torchvision.datasets.ImageFolder(args.data, transforms.Compose([
        transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]))
    if len(data.classes) != model.fc.out_features:
        raise SystemExit(f'--data {args.data}: {len(data.classes)} classes, the model has {model.fc.out_features}')
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(data, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    probe = load_safetensors(args.probe)['input'].to(device) if args.probe else None
    before = probe_logits(model, probe) if probe is not None else None

    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=args.momentum)
    ddp.train()
    steps = 0
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            loss = loss_of(ddp(x.to(device)), y.to(device), args.arch, aux)
            loss.backward()
            opt.step()
            steps += 1
            if rank == 0:
                print(f'epoch {epoch + 1} step {steps} loss {loss.item():.4f} ({world} processes)', flush=True)

    # The processes must hold the same weights (DDP averaged every gradient; rank 0's buffers were broadcast).
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    sums = [torch.zeros(2, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(sums, torch.stack([flat.sum(), (flat * flat).sum()]).cpu())
    if rank == 0:
        if any(not torch.equal(s, sums[0]) for s in sums):
            raise SystemExit(f'the processes diverged: {[s.tolist() for s in sums]}')
        save_safetensors(args.out, {k: v.cpu() for k, v in model.state_dict().items()})
        if probe is not None and args.probe_out:
            save_safetensors(args.probe_out, {'before': before.cpu(), 'after': probe_logits(model, probe).cpu()})
        print(f'wrote {args.out}: {steps} steps on {world} processes ({backend})', flush=True)
    # Every process waits here until rank 0 has written its files: a process that tears the group
    # down while another still works leaves that one spinning in gloo's destroy_process_group.
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
