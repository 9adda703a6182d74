#!/usr/bin/env python3
"""Regenerates the torchvision reference fixtures (the oracle for weight import and numerical
parity): GoogLeNet's, following ../shared/fixtures/torchvision-googlenet/README.md, and Inception
v3's, drawn the same way (see inception_v3_fixtures below for its files).

    python3 scripts/make-fixtures.py [--out DIR] [--v3-out DIR] [--seed N] [--only googlenet|inception_v3]

Needs torch and torchvision (Debian: python3-torch python3-torchvision) and Pillow. Writes to
<repo>/test/fixtures/torchvision-googlenet/ and <repo>/test/fixtures/torchvision-inception-v3/ by
default, where test/fixtures.ts looks. The values differ from the shared copies (other random
draws); the recipe and the layout are the same. One GoogLeNet file is this script's own:
gradcam-aux10.safetensors, the Grad-CAM references (forward hooks and torch.autograd.grad, float64)
of test/explain.test.ts and test/device.test.ts.
"""
import argparse
import copy
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision.models import googlenet, inception_v3

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8'}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def save_safetensors(path, tensors):
    """Writes a safetensors file (no dependency on the safetensors package)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def randomize(model, gen):
    """Conv N(0, 2/fan_in); linear N(0, 1/fan_in), bias N(0, 0.05²); batch norm far from identity."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5, generator=gen)
                if m.bias is not None:
                    m.bias.normal_(0, 0.05, generator=gen)
            elif isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, (1 / m.in_features) ** 0.5, generator=gen)
                m.bias.normal_(0, 0.05, generator=gen)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=gen))
                m.bias.normal_(0, 0.1, generator=gen)
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=gen)))
    return model


def train_mode_no_dropout(model):
    """`model` itself in train mode with every dropout at p=0 (batch norm then uses the batch's
    statistics, and a forward pass updates its running ones)."""
    model.train()
    for d in model.modules():
        if isinstance(d, torch.nn.Dropout):
            d.p = 0.0
    return model


def picture(size=224):
    """A deterministic size×size RGB picture: gradients, a disc and stripes."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    r = 0.5 + 0.5 * np.sin(6 * x + 2 * y)
    g = np.clip(1 - np.hypot(x - 0.6, y - 0.4) * 2.5, 0, 1)
    b = ((np.floor(x * 14) + np.floor(y * 7)) % 2) * 0.6 + 0.2 * y
    return Image.fromarray((np.stack([r, g, b], -1) * 255).round().astype(np.uint8), 'RGB')


def grad_cam(scores, a, class_index=None, plus=False):
    """Grad-CAM the paper's way (Selvaraju et al., arXiv 1610.02391) from a forward pass whose tap
    output `a` a forward hook kept: torch.autograd.grad gives g = d y_c / d A for the top class (or
    `class_index`), alpha_k is its spatial mean and the map is ReLU(sum_k alpha_k A^k). `plus`:
    Grad-CAM++ (Chattopadhyay et al., arXiv 1710.11063), alpha_k = sum_ij a_ij relu(g_ij) with
    a_ij = g^2 / (2 g^2 + sum_ab A_ab g^3) (0 where that is 0/0)."""
    c = scores.argmax(1) if class_index is None else torch.full((scores.shape[0],), class_index)
    (grad,) = torch.autograd.grad(scores.gather(1, c[:, None]).sum(), a, retain_graph=True)
    if plus:
        g2 = grad ** 2
        denom = 2 * g2 + a.sum((2, 3), keepdim=True) * g2 * grad
        aij = torch.where(denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(denom))
        alpha = (aij * F.relu(grad)).sum((2, 3))
    else:
        alpha = grad.mean((2, 3))
    cam = F.relu((alpha[:, :, None, None] * a).sum(1))
    return {'cam': cam, 'alpha': alpha, 'class': c, 'logits': scores}


def forward_keeping(model, x, layers):
    """The logits and the outputs of `layers`, kept by forward hooks."""
    kept = {}
    hooks = [getattr(model, name).register_forward_hook(lambda _m, _i, out, name=name: kept.__setitem__(name, out)) for name in layers]
    try:
        return model(x), kept
    finally:
        for h in hooks:
            h.remove()


def grad_cam_fixtures(model, image_input):
    """Grad-CAM references for the picture, in float64: the last feature map for the top class, an
    earlier tap for a given class (also with Grad-CAM++), and the first auxiliary head (eval mode) at
    its own tap; and on the picture's central 96x96, the last feature map and the earlier tap (for the
    software GPU, where 224x224 is slow). One forward pass per picture, a backward pass per target."""
    m = copy.deepcopy(model).double().eval()
    logits, kept = forward_keeping(m, image_input.double(), ['inception4a', 'inception4c', 'inception4d', 'inception5b'])
    targets = {
        'inception5b': grad_cam(logits, kept['inception5b']),
        'inception4c.class3': grad_cam(logits, kept['inception4c'], 3),
        'plusplus.inception4c.class3': grad_cam(logits, kept['inception4c'], 3, plus=True),
        'aux1.inception4a': grad_cam(m.aux1(kept['inception4a']), kept['inception4a']),
    }
    crop_logits, crop_kept = forward_keeping(m, image_input.double()[:, :, 64:160, 64:160], ['inception4c', 'inception5b'])
    targets['crop96.inception5b'] = grad_cam(crop_logits, crop_kept['inception5b'])
    targets['crop96.inception4c.class3'] = grad_cam(crop_logits, crop_kept['inception4c'], 3)
    out = {f'{key}.{name}': t.detach() for key, r in targets.items() for name, t in r.items()}
    with torch.no_grad():
        out['aux2.logits'] = m.aux2(kept['inception4d'])
    return out


def googlenet_fixtures(args):
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    aux = randomize(googlenet(weights=None, num_classes=10, aux_logits=True, transform_input=False, init_weights=False), gen).eval()
    noaux = randomize(googlenet(weights=None, num_classes=10, aux_logits=False, transform_input=True, init_weights=False), gen).eval()
    save_safetensors(out('googlenet-tv-aux10.safetensors'), aux.state_dict())
    pristine = copy.deepcopy(aux)  # the file's weights, before the train-mode pass below moves the statistics
    torch.save(noaux.state_dict(), out('googlenet-tv-noaux10.pth'))

    x_aux = torch.randn(2, 3, 224, 224, generator=gen)
    x_noaux = torch.randn(2, 3, 224, 224, generator=gen)
    trained = train_mode_no_dropout(copy.deepcopy(aux))  # for the gradients: the file's statistics
    with torch.no_grad():
        eval_aux = aux(x_aux)
        eval_noaux = noaux(x_noaux)
        # The recipe's train-mode pass runs on the aux model itself, so it moves its batch-norm
        # running statistics: io-image's aux10_eval_logits are taken after it (the README says so,
        # and test/parity.test.ts repeats the pass before predicting).
        train_aux = train_mode_no_dropout(aux)(x_aux)
    aux.eval()
    save_safetensors(out('io-aux10.safetensors'), {
        'input': x_aux, 'eval_logits': eval_aux,
        'train_logits': train_aux.logits, 'train_aux1': train_aux.aux_logits1, 'train_aux2': train_aux.aux_logits2,
    })
    save_safetensors(out('io-noaux10.safetensors'), {'input': x_noaux, 'eval_logits': eval_noaux})

    img = picture()
    img.save(out('image-224.png'))
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)
    image_input = ((pixels - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None])[None].contiguous()
    with torch.no_grad():
        image_noaux, image_aux = noaux(image_input), aux(image_input)
    save_safetensors(out('io-image.safetensors'), {'image_input': image_input, 'eval_logits': image_noaux, 'aux10_eval_logits': image_aux})
    cams = grad_cam_fixtures(pristine, image_input)
    save_safetensors(out('gradcam-aux10.safetensors'), cams)

    labels = torch.tensor([3, 7])
    o = trained(x_aux)
    loss = F.cross_entropy(o.logits, labels) + 0.3 * (F.cross_entropy(o.aux_logits1, labels) + F.cross_entropy(o.aux_logits2, labels))
    loss.backward()
    grads = {'labels': labels, 'loss': loss.detach().reshape(1)}
    grads.update({f'grad.{n}': p.grad for n, p in trained.named_parameters()})
    for n, m in trained.named_modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            grads[f'running_mean.{n}'] = m.running_mean
            grads[f'running_var.{n}'] = m.running_var
    save_safetensors(out('grads-aux10.safetensors'), grads)

    count = lambda m: sum(p.numel() for p in m.parameters())
    tv = lambda a: count(googlenet(weights=None, aux_logits=a, init_weights=False))
    meta = {
        'torch': torch.__version__, 'torchvision': torchvision.__version__, 'seed': args.seed,
        'aux10': {'params': count(aux), 'state_dict_keys': len(aux.state_dict()),
                  'eval_logits_row0': eval_aux[0].tolist(), 'train_aux1_row0': train_aux.aux_logits1[0].tolist()},
        'noaux10': {'params': count(noaux), 'transform_input': True, 'eval_logits_row0': eval_noaux[0].tolist()},
        'image': {'noaux10_pth_eval_logits': image_noaux[0].tolist(), 'aux10_safetensors_eval_logits': image_aux[0].tolist()},
        'gradcam_aux10': {k: v.tolist() for k, v in cams.items() if k.endswith('.class')},
        'param_counts': {'torchvision_1000_aux': tv(True), 'torchvision_1000_noaux': tv(False)},
    }
    with open(out('meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(f'wrote fixtures to {args.out}')


def projections(g, k=4):
    """k signed sums of a gradient tensor's elements, sign_k(i) = ±1 from an integer hash of (i, k)
    that test/fixtures.ts computes the same way: a compact, exact-arithmetic fingerprint of a
    gradient too large to store whole (relative error of a projection tracks the tensor's)."""
    i = np.arange(g.numel(), dtype=np.uint64)
    flat = g.detach().reshape(-1).double()
    out = []
    for j in range(k):
        h = (i * np.uint64(2654435761) + np.uint64(j * 40503 + 1)) & np.uint64(0xFFFFFFFF)
        sign = torch.from_numpy(np.where((h >> np.uint64(13)) & np.uint64(1), 1.0, -1.0))
        out.append(float((flat * sign).sum()))
    return torch.tensor(out, dtype=torch.float64)


def inception_v3_fixtures(args):
    """Inception v3 (torchvision's inception_v3), random weights drawn as GoogLeNet's:

    inception-v3-tv-aux10.pth           torch.save(state_dict) of inception_v3(num_classes=10, aux_logits=True, transform_input=False)
    inception-v3-tv-noaux10.safetensors other weights, aux_logits=False, transform_input=True
    io-aux10.safetensors    input [4,3,299,299]; eval_logits; train_logits, train_aux (train mode, dropout 0);
                            running_mean.<bn> / running_var.<bn> after that train-mode pass
    io-noaux10.safetensors  input [2,3,299,299]; eval_logits of the safetensors model
    image-299.png, io-image.safetensors  a 299×299 picture, image_input (ImageNet-normalized) and the
                            .safetensors model's eval_logits
    grads64-107.safetensors float64 autograd of the aux10 weights (aux head off, dropout 0, train mode) on
                            input [2,3,107,107] (F64), labels 3, 7: loss = CE(logits); per parameter
                            proj.<name> (4 signed sums, see projections()) and sq.<name> (Σ g²),
                            grad.<name> whole for tensors of at most 20,480 values
    grads64-aux.safetensors float64 autograd of the aux10 weights' AuxLogits alone on x [2,768,17,17]:
                            loss = CE(AuxLogits(x)); grad.<name> whole (2.4 M values)
    """
    os.makedirs(args.v3_out, exist_ok=True)
    out = lambda name: os.path.join(args.v3_out, name)
    gen = torch.Generator().manual_seed(args.seed + 3)
    make = lambda aux, ti: inception_v3(weights=None, num_classes=10, aux_logits=aux, transform_input=ti, init_weights=False)
    aux = randomize(make(True, False), gen).eval()
    noaux = randomize(make(False, True), gen).eval()
    torch.save(aux.state_dict(), out('inception-v3-tv-aux10.pth'))
    save_safetensors(out('inception-v3-tv-noaux10.safetensors'), noaux.state_dict())

    # A batch of 4: in train mode the aux head's last batch norm normalizes N values per channel (its
    # map is 1×1), a difference of nearly equal numbers when two of them are close. With 2, torch's
    # own float32 aux output was 1.4e-4 from its float64 one (ours 9.8e-5); with 4, 6.1e-5 (ours
    # 5.5e-5 from float64, 6.4e-5 from torch's float32), so a 1e-4 check says something.
    x_aux = torch.randn(4, 3, 299, 299, generator=gen)
    x_noaux = torch.randn(2, 3, 299, 299, generator=gen)
    with torch.no_grad():
        eval_aux = aux(x_aux)
        eval_noaux = noaux(x_noaux)
        trained = train_mode_no_dropout(copy.deepcopy(aux))
        train_out = trained(x_aux)
    io = {'input': x_aux, 'eval_logits': eval_aux, 'train_logits': train_out.logits, 'train_aux': train_out.aux_logits}
    for n, m in trained.named_modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            io[f'running_mean.{n}'] = m.running_mean
            io[f'running_var.{n}'] = m.running_var
    save_safetensors(out('io-aux10.safetensors'), io)
    save_safetensors(out('io-noaux10.safetensors'), {'input': x_noaux, 'eval_logits': eval_noaux})

    img = picture(299)
    img.save(out('image-299.png'))
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)
    image_input = ((pixels - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None])[None].contiguous()
    with torch.no_grad():
        image_noaux = noaux(image_input)
    save_safetensors(out('io-image.safetensors'), {'image_input': image_input, 'eval_logits': image_noaux})

    # Float64 gradients on a small input, 107×107 (the aux head needs 299). Not 75×75, torchvision's
    # smallest: there Mixed_7's maps are 1×1 and their batch norms normalize 2 values, which makes
    # the gradients ill-conditioned (a 1e-15 relative change of the input moves them by 3.4e-10;
    # at 107×107, 1.9e-12), so that two correct float64 implementations differ by ~1e-9.
    labels = torch.tensor([3, 7])
    small = make(False, False)
    small.load_state_dict({k: v for k, v in aux.state_dict().items() if not k.startswith('AuxLogits.')})
    small = train_mode_no_dropout(small).double()
    x64 = torch.randn(2, 3, 107, 107, generator=gen, dtype=torch.float64)
    loss = F.cross_entropy(small(x64), labels)
    loss.backward()
    g64 = {'input': x64, 'labels': labels, 'loss': loss.detach().reshape(1)}
    for n, p in small.named_parameters():
        g64[f'proj.{n}'] = projections(p.grad)
        g64[f'sq.{n}'] = (p.grad.double() ** 2).sum().reshape(1)
        if p.numel() <= 20480:
            g64[f'grad.{n}'] = p.grad
    save_safetensors(out('grads64-107.safetensors'), g64)
    # The aux head alone, at its real size: its 5×5/3 average pool, 1×1 and 5×5 convolutions and fc.
    head = train_mode_no_dropout(copy.deepcopy(aux.AuxLogits)).double()
    xa = torch.randn(2, 768, 17, 17, generator=gen, dtype=torch.float64)
    loss = F.cross_entropy(head(xa), labels)
    loss.backward()
    ga = {'input': xa, 'labels': labels, 'loss': loss.detach().reshape(1)}
    ga.update({f'grad.AuxLogits.{n}': p.grad for n, p in head.named_parameters()})
    save_safetensors(out('grads64-aux.safetensors'), ga)

    count = lambda m: sum(p.numel() for p in m.parameters())
    tv = lambda **kw: count(inception_v3(weights=None, init_weights=False, **kw))
    meta = {
        'torch': torch.__version__, 'torchvision': torchvision.__version__, 'seed': args.seed,
        'aux10': {'params': count(aux), 'state_dict_keys': len(aux.state_dict()), 'eval_logits_row0': eval_aux[0].tolist()},
        'noaux10': {'params': count(noaux), 'transform_input': True, 'eval_logits_row0': eval_noaux[0].tolist()},
        'param_counts': {'torchvision_1000_aux': tv(aux_logits=True), 'torchvision_1000_noaux': tv(aux_logits=False)},
    }
    with open(out('meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(f'wrote fixtures to {args.v3_out}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=os.path.join(REPO, 'test', 'fixtures', 'torchvision-googlenet'))
    ap.add_argument('--v3-out', default=os.path.join(REPO, 'test', 'fixtures', 'torchvision-inception-v3'))
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--only', choices=['googlenet', 'inception_v3'])
    args = ap.parse_args()
    if args.only != 'inception_v3':
        googlenet_fixtures(args)
    if args.only != 'googlenet':
        inception_v3_fixtures(args)


if __name__ == '__main__':
    main()
