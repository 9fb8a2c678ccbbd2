"""Writes the ResNet checkpoints the tests load (tests/fixtures/pretrained/resnet*.pth.xz) and
prints the reference features the tests compare with.

The models are torchvision's ResNet-18 and ResNet-50, written out here with plain torch.nn so
that torchvision is not needed; their names match torchvision's state_dict exactly. Weights
follow a short periodic pattern instead of a random draw so the checkpoints compress to a few
kilobytes (the real ones cannot be downloaded here); torch.save writes them in its zip format.

    python scripts/make_resnet_fixtures.py   # needs torch
"""
import lzma, io, torch, torch.nn as nn, numpy as np

class Basic(nn.Module):
    expansion = 1
    def __init__(self, cin, w, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, w, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, w, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(); self.downsample = None
        if stride != 1 or cin != w:
            self.downsample = nn.Sequential(nn.Conv2d(cin, w, 1, stride, bias=False), nn.BatchNorm2d(w))
    def forward(self, x):
        s = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + s)

class Bottleneck(nn.Module):
    expansion = 4
    def __init__(self, cin, w, stride):
        super().__init__()
        out = w * 4
        self.conv1 = nn.Conv2d(cin, w, 1, bias=False); self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, w, 3, stride, 1, bias=False); self.bn2 = nn.BatchNorm2d(w)
        self.conv3 = nn.Conv2d(w, out, 1, bias=False); self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(); self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
    def forward(self, x):
        s = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + s)

class ResNet(nn.Module):
    def __init__(self, block, layers):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False); self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(); self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, n in enumerate(layers):
            w = 64 << i; blocks = []
            for b in range(n):
                blocks.append(block(cin, w, 2 if (b == 0 and i > 0) else 1)); cin = w * block.expansion
            setattr(self, f'layer{i+1}', nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1); self.fc = nn.Linear(cin, 1000)
    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(4): x = getattr(self, f'layer{i+1}')(x)
        return self.avgpool(x).flatten(1)

def pattern(t, k):
    n = t.numel(); fan = max(n // t.shape[0], 1)
    idx = torch.arange(n, dtype=torch.float32)
    v = (((idx * 5 + k) % 11) - 5) / 5 * (1.7 / fan ** 0.5)
    return v.reshape(t.shape)

def fill(model):
    with torch.no_grad():
        for k, (name, t) in enumerate(model.state_dict().items()):
            if name.endswith('num_batches_tracked'): continue
            if name.endswith('running_var'): t.copy_(1 + (torch.arange(t.numel()) % 7).float() / 10)
            elif name.endswith('running_mean'): t.copy_(((torch.arange(t.numel()) % 5).float() - 2) / 20)
            elif t.dim() == 1 and name.endswith('.weight'):  # batch-norm scales
                t.copy_(0.3 + (torch.arange(t.numel()) % 3).float() / 10)
            elif t.dim() == 1: t.copy_(((torch.arange(t.numel()) % 9).float() - 4) / 40)
            else: t.copy_(pattern(t, k))

def image(h, w):
    c, y, x = np.meshgrid(np.arange(3), np.arange(h), np.arange(w), indexing='ij')
    return torch.tensor(((y*3 + x*7 + c*50) % 256) / 255.0, dtype=torch.float32)

mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]; std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
for name, block, layers in [('resnet18', Basic, [2, 2, 2, 2]), ('resnet50', Bottleneck, [3, 4, 6, 3])]:
    m = ResNet(block, layers).eval(); fill(m)
    buf = io.BytesIO(); torch.save(m.state_dict(), buf)
    open(f'tests/fixtures/pretrained/{name}.pth.xz', 'wb').write(lzma.compress(buf.getvalue(), preset=9))
    x = ((image(96, 128) - mean) / std)[None]
    with torch.no_grad(): f = m.features(x)[0]
    step = max(f.numel() // 32, 1)
    print(name, 'features', f.numel(), f'[::{step}]', [round(float(v), 5) for v in f[::step]])
