#!/usr/bin/env python3
"""Regenerates the torchvision GoogLeNet reference fixtures (the oracle for weight import and
numerical parity), following ../shared/fixtures/torchvision-googlenet/README.md.

    python3 scripts/make-fixtures.py [--out DIR] [--seed N]

Needs torch and torchvision (Debian: python3-torch python3-torchvision) and Pillow. Writes to
<repo>/test/fixtures/torchvision-googlenet/ by default, where test/fixtures.ts looks. The values
differ from the shared copies (other random draws); the recipe and the layout are the same. One
file is this script's own: gradcam-aux10.safetensors, the Grad-CAM references (forward hooks and
torch.autograd.grad, float64) of test/explain.test.ts and test/device.test.ts.
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
from torchvision.models import googlenet

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


def picture():
    """A deterministic 224×224 RGB picture: gradients, a disc and stripes."""
    y, x = np.mgrid[0:224, 0:224].astype(np.float32) / 223
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=os.path.join(REPO, 'test', 'fixtures', 'torchvision-googlenet'))
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
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


if __name__ == '__main__':
    main()
