# Pilot: does a depthwise-separable CNN under small-cnn's parameter budget beat small-cnn alone?
import gzip, sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1)
arch, seed = sys.argv[1], int(sys.argv[2])
torch.manual_seed(seed); np.random.seed(seed)
D = '/usr/share/datasets/fashion-mnist/'
def idx(name, off):
    return np.frombuffer(gzip.open(D + name).read(), np.uint8, offset=off)
xtr = idx('train-images-idx3-ubyte.gz', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
ytr = idx('train-labels-idx1-ubyte.gz', 8).astype(np.int64)
xte = idx('t10k-images-idx3-ubyte.gz', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
yte = idx('t10k-labels-idx1-ubyte.gz', 8).astype(np.int64)
mean, std = xtr.mean(), xtr.std()
xtr = (xtr - mean) / std; xte = (xte - mean) / std
# hold out 500 per class (first 500 of each class), like the tuned split
keep = np.ones(len(ytr), bool)
for c in range(10): keep[np.where(ytr == c)[0][:500]] = False
xtr, ytr = torch.tensor(xtr[keep]), torch.tensor(ytr[keep]); xte, yte = torch.tensor(xte), torch.tensor(yte)

def full(ci, co, k=3): return [nn.Conv2d(ci, co, k, padding=k // 2, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True)]
def sep(ci, co, k=3): return [nn.Conv2d(ci, ci, k, padding=k // 2, groups=ci, bias=False), nn.BatchNorm2d(ci), nn.ReLU(inplace=True),
                             nn.Conv2d(ci, co, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True)]
def build(arch):
    if arch == 'small':
        w = [8, 16, 32]; L = full(1, 8) + full(8, 8) + [nn.MaxPool2d(2)] + full(8, 16) + full(16, 16) + [nn.MaxPool2d(2)] + full(16, 32) + full(32, 32); c = 32
    elif arch.startswith('hyb'):
        a, b, c = [int(x) for x in arch.split('-')[1:4]]
        L = full(1, a) + full(a, a) + [nn.MaxPool2d(2)] + full(a, b) + full(b, b) + [nn.MaxPool2d(2)] + sep(b, c) + sep(c, c)
    else:
        a, b, c = [int(x) for x in arch.split('-')[1:4]]
        k = 5 if arch.endswith('k5') else 3
        L = full(1, a) + sep(a, a, k) + [nn.MaxPool2d(2)] + sep(a, b, k) + sep(b, b, k) + [nn.MaxPool2d(2)] + sep(b, c, k) + sep(c, c, k)
    return nn.Sequential(*L, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))
m = build(arch)
print(arch, 'params', sum(p.numel() for p in m.parameters()), flush=True)
E, B = 12, 128
opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
steps = E * ((len(ytr) + B - 1) // B); sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
for e in range(E):
    t = time.time(); m.train(); perm = torch.randperm(len(ytr))
    for i in range(0, len(ytr), B):
        j = perm[i:i + B]; loss = F.cross_entropy(m(xtr[j]), ytr[j]); opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    m.eval()
    with torch.no_grad(): acc = sum((m(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, 10000, 1000)) / 100
    print(f'{arch} seed{seed} e{e + 1} test {acc:.2f} ({time.time() - t:.0f} s)', flush=True)
